"""Multi-digit addition as a multi-token task: the sum's digits are the output tokens (Schaeffer et al. 2023's
setting for "emergent" exact match)."""

from __future__ import annotations

import torch

from phenomena.data.dataset import Dataset
from phenomena.errors import UserError


def digit_addition(digits: int, n_train: int, n_test: int, seed: int = 0) -> Dataset:
    """Pairs of ``digits``-digit numbers and the ``digits`` lowest digits of their sum, digit by digit.

    Each operand's digits are drawn i.i.d. uniform in 0-9 (leading zeros allowed), so a and b are uniform in
    ``[0, 10**digits)``; the target is ``(a + b) mod 10**digits`` (the final carry is dropped), written as
    ``digits`` tokens. Train and test examples are independent draws from that distribution (for more than 3
    digits the 10^(2·digits) pairs make overlaps rare; they are not removed).

    Args:
        digits: L, the number of digits of each operand and of the target (the output tokens).
        n_train, n_test: examples drawn for each split.
        seed: the draws use their own ``torch.Generator(seed)``.

    Returns:
        A :class:`Dataset` with integer tokens ``x`` of shape (N, 2L): a's digits then b's digits, least
        significant first, and integer targets ``y`` of shape (N, L): the sum's digits, least significant first
        (position i depends on the operands' digits 0..i through the carry chain). ``meta``: ``input="tokens"``,
        ``vocab=10``, ``num_classes=10`` (per output token), ``output_tokens=L``.

    Example:
        >>> ds = digit_addition(3, n_train=4, n_test=2, seed=1)
        >>> ds.x_train.shape, ds.y_train.shape
        (torch.Size([4, 6]), torch.Size([4, 3]))
        >>> x, y = ds.x_train[0], ds.y_train[0]
        >>> def value(t):
        ...     return sum(int(d) * 10**i for i, d in enumerate(t))
        >>> (value(x[:3]) + value(x[3:])) % 1000 == value(y)
        True
    """
    if digits < 1:
        raise UserError(f"digit addition needs at least 1 digit; got {digits}")
    if n_train < 1 or n_test < 1:
        raise UserError(f"digit addition needs at least one example per split; got {n_train} and {n_test}")
    g = torch.Generator().manual_seed(seed)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.randint(0, 10, (n, digits), generator=g)
        b = torch.randint(0, 10, (n, digits), generator=g)
        carry = torch.zeros(n, dtype=torch.long)
        out = []
        for i in range(digits):  # schoolbook addition, least significant digit first
            s = a[:, i] + b[:, i] + carry
            out.append(s % 10)
            carry = s // 10
        return torch.cat([a, b], 1), torch.stack(out, 1)

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    meta = {"name": f"addition-{digits}", "input": "tokens", "vocab": 10, "num_classes": 10, "output_tokens": digits}
    return Dataset(x_train, y_train, x_test, y_test, meta)
