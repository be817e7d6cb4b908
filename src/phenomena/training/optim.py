"""Optimizers by name, with an optional linear warm-up.

:class:`SGD`, :class:`Adam` and :class:`AdamW` are ``torch.optim``'s classes, updating with torch's own code, less the
guards torch wraps around their public methods for ``torch.compile``: each guard imports ``torch._dynamo`` the first
time it runs, an import that takes longer on a laptop CPU than the whole training of the showcase, in every process
that steps an optimizer. The guards only act inside a compiled region (``step``'s are graph breaks): these classes
are for eager training, which is all the package does. Their updates are torch's, bit for bit (tested).
"""

from __future__ import annotations

import inspect

import torch

from phenomena.errors import UserError

OPTIMIZERS = ("sgd", "adam", "adamw")

# the methods of torch.optim.Optimizer that torch wraps in a lazy ``torch._dynamo.disable``
_GUARDED = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")


def without_compile_guards(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """Class decorator for a ``torch.optim.Optimizer`` subclass: the methods it inherits from ``Optimizer`` that
    torch wraps in a lazy ``torch._dynamo.disable`` (``add_param_group``, ``zero_grad``, ``state_dict``,
    ``load_state_dict``) replaced by the functions torch wrapped (``inspect.unwrap``), so that using the optimizer
    does not import ``torch._dynamo``. Methods the class (or a base between it and ``Optimizer``) defines itself
    are left as they are."""
    for name in _GUARDED:
        inherited = getattr(torch.optim.Optimizer, name)
        if getattr(cls, name) is inherited:
            setattr(cls, name, inspect.unwrap(inherited))
    return cls


class _Eager:
    """Mixin before a ``torch.optim`` class: the subclass is :func:`without_compile_guards`, and its ``step`` runs
    the class's own update (the function torch's wrappers wrap, ``inspect.unwrap``, found once per class) under
    ``torch.no_grad()``, which is what torch's wrapper does for an optimizer that is not ``differentiable``, less
    the ``torch._dynamo`` import."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        base = cls.__mro__[cls.__mro__.index(_Eager) + 1]
        cls._update = staticmethod(inspect.unwrap(base.step))
        without_compile_guards(cls)

    def __init__(self, *args, **kwargs):
        if kwargs.get("differentiable"):
            name = type(self).__name__
            raise UserError(f"phenomena's {name} is not differentiable; use torch.optim.{name}")
        super().__init__(*args, **kwargs)

    def step(self, closure=None):
        """One update of every parameter group (``closure``: re-evaluates the loss, as in ``torch.optim``)."""
        with torch.no_grad():
            return self._update(self, closure)


class SGD(_Eager, torch.optim.SGD):
    """``torch.optim.SGD``, updating with torch's code, without the ``torch._dynamo`` import of its compile guards
    (see :mod:`phenomena.training.optim`): for eager training, with the same arguments."""


class Adam(_Eager, torch.optim.Adam):
    """``torch.optim.Adam``, updating with torch's code, without the ``torch._dynamo`` import of its compile guards
    (see :mod:`phenomena.training.optim`): for eager training, with the same arguments."""


class AdamW(_Eager, torch.optim.AdamW):
    """``torch.optim.AdamW``, updating with torch's code, without the ``torch._dynamo`` import of its compile guards
    (see :mod:`phenomena.training.optim`): for eager training, with the same arguments."""


def make_optimizer(
    name: str,
    params,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """``sgd`` (with ``momentum``; weight decay coupled, added to the gradient), ``adam`` (coupled) or ``adamw``
    (decoupled weight decay, Loshchilov & Hutter 2019 — the grokking papers' choice). SGD takes torch's foreach
    kernels, Adam and AdamW its fused kernel (one pass over each parameter instead of six or seven), the rule the
    ensemble trainer's members follow (:class:`~phenomena.training.functional_optim.FunctionalOptimizer`)."""
    if lr <= 0:
        raise UserError(f"learning rate must be positive; got {lr}")
    if weight_decay < 0:
        raise UserError(f"weight decay must be >= 0; got {weight_decay}")
    if name == "sgd":
        return SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, foreach=True)
    if name == "adam":
        return Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=True)
    if name == "adamw":
        return AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=True)
    raise UserError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def warmup(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Linear warm-up over ``steps`` (Nanda et al.: ``min(step / 10, 1)``); None when ``steps`` is 0."""
    if steps <= 0:
        return None
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / steps, 1.0))
