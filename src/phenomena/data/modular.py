"""Modular arithmetic tables, the grokking task of Power et al. (2022): ``a op b = c (mod p)``."""

from __future__ import annotations

import torch

from phenomena.data.dataset import Dataset
from phenomena.errors import UserError

OPERATIONS = ("+", "-", "*", "/")


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def modular_arithmetic(p: int, op: str = "+", train_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """All pairs (a, b) of the table of ``a op b mod p``, split at random into train and test.

    Inputs are token pairs ``x = (a, b)`` with tokens in ``[0, p)``; the label is ``c``. Division is
    multiplication by the inverse, so ``b = 0`` is left out for ``/`` (the table has p(p-1) rows); ``/`` needs
    ``p`` prime. The split uses its own ``torch.Generator(seed)``.

    >>> ds = modular_arithmetic(97, "+", train_fraction=0.4)
    >>> ds.x_train.shape, ds.meta["vocab"]
    (torch.Size([3763, 2]), 97)
    """
    if op not in OPERATIONS:
        raise UserError(f"unknown modular operation {op!r}; choose one of {', '.join(OPERATIONS)}")
    if p < 2:
        raise UserError(f"modulus p must be at least 2; got {p}")
    if op == "/" and not _is_prime(p):
        raise UserError(f"division mod {p} needs a prime modulus")
    if not 0.0 < train_fraction < 1.0:
        raise UserError(f"train_fraction must lie strictly between 0 and 1; got {train_fraction}")
    a, b = torch.cartesian_prod(torch.arange(p), torch.arange(p)).T
    if op == "/":
        keep = b != 0
        a, b = a[keep], b[keep]
    if op == "+":
        c = (a + b) % p
    elif op == "-":
        c = (a - b) % p
    elif op == "*":
        c = (a * b) % p
    else:
        c = (a * torch.tensor([pow(int(v), -1, p) for v in b])) % p
    x = torch.stack([a, b], dim=1)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_train = round(train_fraction * len(x))
    if n_train < 1 or n_train >= len(x):
        raise UserError(f"train_fraction {train_fraction} leaves an empty train or test split for p={p}")
    tr, te = order[:n_train], order[n_train:]
    meta = {"name": f"modular{op}{p}", "num_classes": p, "input": "tokens", "vocab": p, "p": p, "op": op}
    return Dataset(x[tr], c[tr], x[te], c[te], meta)
