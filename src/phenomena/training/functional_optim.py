"""Functional SGD, Adam and AdamW over stacked parameters, with per-member hyper-parameters.

A stacked parameter has a leading member axis (M, ...). The optimizer holds [M]-shaped learning rate, weight
decay, momentum and betas, and updates every member with the rule of the matching ``torch.optim`` class
(``SGD(momentum, weight_decay)`` with dampening 0; ``Adam``, coupled decay; ``AdamW``, decoupled decay; both
with bias correction), so member m follows the trajectory of its own ``torch.optim`` instance. Scalar
bookkeeping (bias corrections, ``1 - lr * wd``) runs in float64 like torch's Python floats, then is cast to
the parameter dtype as torch's kernels cast scalars. Only element-wise rules are offered: for them, stacking
members is the same as running them apart (research notes, ecosystem §B.7). Parameters packed in one buffer
(:mod:`phenomena.training.packed`), with gradients packed alike, are updated as that one buffer when the members
share their hyper-parameters: one kernel per rule, bitwise the update of the separate tensors (SGD). Adam and AdamW
are torch's fused kernel (``fused=True``, as :func:`~phenomena.training.make_optimizer` builds them for ``fit``):
given the stacked tensors when the members share their hyper-parameters, bit for bit ``torch.optim`` on those
tensors, and each member's slices with its own scalars otherwise, bit for bit M solo instances on tensors laid out
as the slices are. The kernel rounds a tensor's last few elements in memory order (its scalar loop) differently
from the rest, so a member stepped inside a stacked tensor, or in a transposed layout (the bmm path stores some
weights so), can differ from its solo run in the last bit of a few elements; the rule is the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from phenomena.errors import UserError
from phenomena.training.packed import ALIGN, mirror, span

FUNCTIONAL_OPTIMIZERS = ("sgd", "adam", "adamw")


def per_member(value: float | Sequence[float] | torch.Tensor, m: int, name: str) -> torch.Tensor:
    """``value`` as a float64 tensor of shape [m]: a scalar is repeated, a sequence must have m entries.

    >>> per_member(0.1, 3, "lr")
    tensor([0.1000, 0.1000, 0.1000], dtype=torch.float64)
    """
    t = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    if t.ndim == 0:
        return t.repeat(m)
    if t.shape != (m,):
        raise UserError(f"{name} must be a number or one value per member ({m}); got shape {tuple(t.shape)}")
    return t.clone()


def _check_range(t: torch.Tensor, name: str, low: float, high: float, low_open: bool = False) -> None:
    ok = (t > low if low_open else t >= low) & (t < high)
    if not bool(ok.all()) or not bool(torch.isfinite(t).all()):
        bracket = "(" if low_open else "["
        raise UserError(f"{name} must lie in {bracket}{low}, {high}); got {t.tolist()}")


def _b(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """An [M] tensor reshaped to broadcast against a stacked (M, ...) tensor, in its dtype and device."""
    return t.to(dtype=like.dtype, device=like.device).view(-1, *([1] * (like.ndim - 1)))


def _fused_sgd_is_exact(params: list[torch.Tensor]) -> bool:
    """Whether torch's fused SGD kernel gives the foreach rule's bits on ``params``: one CPU buffer of whole vectors.
    Its vectorized body computes every element as the foreach kernels do (checked with AVX-512, AVX2 and the scalar
    build, at one and two threads); its scalar tail, for the last few elements of a length that is not a multiple
    of the vector width, may round differently, so a buffer with a tail keeps the foreach kernels."""
    return len(params) == 1 and params[0].device.type == "cpu" and params[0].numel() % ALIGN == 0


def _layout(tensors: list[torch.Tensor], flat: torch.Tensor) -> tuple:
    """Where each of ``tensors`` starts in ``flat``, and the size of ``flat``."""
    return (*(t.storage_offset() - flat.storage_offset() for t in tensors), flat.numel())


# the per-parameter state torch.optim keeps for each rule, in the order of FunctionalOptimizer's slots
STATE_KEYS = {"sgd": ("momentum_buffer",), "adam": ("exp_avg", "exp_avg_sq"), "adamw": ("exp_avg", "exp_avg_sq")}


def check_states(name: str, states: Sequence[dict], shapes: Sequence[torch.Size], m: int) -> int:
    """Check that ``states`` are ``m`` ``state_dict()`` values of solo ``torch.optim`` optimizers of rule ``name`` over
    parameters of ``shapes``, each either not stepped (no entries) or with every parameter's moments; return their
    common step count (Adam's bias corrections share one; 0 for SGD, whose rule has none). Raises UserError."""
    if len(states) != m:
        raise UserError(f"resume needs one optimizer state per member ({m}); got {len(states)}")
    counts = set()
    for j, sd in enumerate(states):
        st = sd.get("state") if isinstance(sd, dict) else None
        if not isinstance(st, dict):
            raise UserError(f"member {j}'s optimizer state is not a torch.optim state_dict() (no 'state' mapping)")
        if st and sorted(st) != list(range(len(shapes))):
            raise UserError(f"member {j}'s optimizer state covers parameters {sorted(st)}, not 0..{len(shapes) - 1}")
        for i, shape in enumerate(shapes if st else ()):
            for key in STATE_KEYS[name]:
                value = st[i].get(key)
                if value is None and name != "sgd":
                    raise UserError(f"member {j}'s state of parameter {i} has no {key}: not a {name} optimizer's")
                if value is not None and tuple(value.shape) != tuple(shape):
                    raise UserError(
                        f"member {j}'s {key} of parameter {i} has shape {tuple(value.shape)}; expected {tuple(shape)}"
                    )
        counts.add(int(st[0]["step"]) if st and name != "sgd" else 0)
    if len(counts) > 1:
        raise UserError(f"every member must resume from the same step; the states have taken {sorted(counts)}")
    return counts.pop()


class FunctionalOptimizer:
    """Per-member SGD / Adam / AdamW on a list of stacked (M, ...) parameters, updated in place.

    Args:
        name: "sgd" (``momentum``, coupled ``weight_decay``), "adam" (coupled decay) or "adamw" (decoupled
            decay, Loshchilov & Hutter 2019).
        params: the stacked parameters (leaf tensors), updated in place by ``step``.
        lr, weight_decay, momentum: a number or one value per member.
        betas: (β1, β2), each a number or one value per member; eps is shared.

    ``step(grads, lr_scale)`` applies one update with learning rate ``lr * lr_scale`` (a shared schedule
    factor, as ``LambdaLR`` would set).

    Example::

        opt = FunctionalOptimizer("sgd", [w], lr=[0.1, 0.01], momentum=0.9)   # w has shape (2, 10, 5)
        opt.step([w_grad])
    """

    def __init__(
        self,
        name: str,
        params: list[torch.Tensor],
        lr: float | Sequence[float] | torch.Tensor,
        weight_decay: float | Sequence[float] | torch.Tensor = 0.0,
        momentum: float | Sequence[float] | torch.Tensor = 0.0,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        if name not in FUNCTIONAL_OPTIMIZERS:
            raise UserError(f"unknown optimizer {name!r}; choose one of {', '.join(FUNCTIONAL_OPTIMIZERS)}")
        if not params:
            raise UserError("the optimizer needs at least one parameter")
        m = params[0].shape[0]
        self.name, self.params, self.eps, self.t = name, list(params), float(eps), 0
        self.lr = per_member(lr, m, "learning rate")
        self.weight_decay = per_member(weight_decay, m, "weight decay")
        self.momentum = per_member(momentum, m, "momentum")
        if len(betas) != 2:
            raise UserError(f"betas must be a pair (beta1, beta2); got {betas!r}")
        self.beta1, self.beta2 = per_member(betas[0], m, "beta1"), per_member(betas[1], m, "beta2")
        _check_range(self.lr, "the learning rate", 0.0, math.inf, low_open=True)
        _check_range(self.weight_decay, "the weight decay", 0.0, math.inf)
        _check_range(self.momentum, "the momentum", 0.0, 1.0)
        _check_range(self.beta1, "beta1", 0.0, 1.0)
        _check_range(self.beta2, "beta2", 0.0, 1.0)
        if not eps >= 0:
            raise UserError(f"eps must be >= 0; got {eps}")
        # momentum buffers (SGD) or 1st and 2nd moments (Adam), packed like the parameters where those are packed
        self._flat = span(self.params)
        slots = [
            mirror(self.params, self._flat) if self._flat is not None else [torch.zeros_like(p) for p in self.params]
            for _ in range(1 if name == "sgd" else 2)
        ]
        self.state = [list(s) for s in zip(*slots, strict=True)]
        self._flat_state = [span(s) for s in slots] if self._flat is not None else None
        self._grads_seen: tuple[list[torch.Tensor], torch.Tensor | None] = ([], None)
        self._step_count: torch.Tensor | None = None  # Adam's step, the fused kernel's input
        self._members: list | None = None  # per-member Adam's views of each member (see _adam)
        # Members that share every hyper-parameter (seeds-only ensembles, the common case) take torch's foreach
        # (SGD) or fused (Adam) kernels with Python scalars: a few kernels per step for all tensors instead of a few
        # per tensor, which was most of an ensemble step's overhead for small models. Otherwise the [M] tensors are
        # reshaped to each parameter's broadcast shape once, here, not at every step.
        hypers = (self.lr, self.weight_decay, self.momentum, self.beta1, self.beta2)
        self.uniform = all(bool((h == h[0]).all()) for h in hypers)
        self._scalars = tuple(float(h[0]) for h in hypers)  # lr, wd, momentum, beta1, beta2 when uniform
        self._shaped = {key: [_b(getattr(self, key), p) for p in self.params] for key in ("weight_decay", "momentum")}

    @torch.no_grad()
    def resume(self, states: Sequence[dict], transposed: Sequence[bool] = ()) -> None:
        """Start from where M solo ``torch.optim`` optimizers of this rule stopped: ``states[m]`` is member m's
        ``optimizer.state_dict()``, its parameters in the order of ``params`` (their member slices, transposed
        where ``transposed[i]``). The moments (momentum buffers; Adam's first and second moments) and the step count
        are taken; the hyper-parameters stay those given here. Adam's members must have taken the same number of
        steps (bias corrections share one count); a state with no entries is an optimizer that has not stepped."""
        flips = list(transposed) or [False] * len(self.params)
        solo = [p.shape[1:][::-1] if f else p.shape[1:] for p, f in zip(self.params, flips, strict=True)]
        self.t = check_states(self.name, states, solo, self.params[0].shape[0])
        for j, sd in enumerate(states):
            st = sd.get("state", {})
            for i, slots in enumerate(self.state):
                for slot, key in zip(slots, STATE_KEYS[self.name], strict=True):
                    value = st[i].get(key) if st else None
                    if value is None:  # not stepped (or SGD without momentum): torch starts from zeros too
                        slot[j].zero_()
                    else:
                        slot[j].copy_(value.T if flips[i] else value)

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], lr_scale: float = 1.0) -> None:
        """One update of every member; ``grads`` match ``params`` and may be overwritten."""
        self.t += 1
        if self.uniform and self.name != "sgd":
            self._fused_adam(grads, self._scalars[0] * lr_scale)
        elif self.uniform:
            flat_grads = self._flat_grads(grads)
            if flat_grads is not None:  # one kernel per rule over every parameter (bitwise the same update)
                self._uniform_sgd([self._flat], [flat_grads], [self._flat_state], self._scalars[0] * lr_scale)
            else:
                self._uniform_sgd(self.params, grads, self.state, self._scalars[0] * lr_scale)
        elif self.name == "sgd":
            self._sgd(grads, self.lr * lr_scale)
        else:
            self._adam(grads, self.lr * lr_scale)

    def _flat_grads(self, grads: list[torch.Tensor]) -> torch.Tensor | None:
        """The flat buffer ``grads`` are packed in when the parameters are packed alike, else None; the same
        gradient tensors as the last step's are not searched again."""
        if self._flat is None:
            return None
        seen, flat = self._grads_seen
        if len(seen) != len(grads) or any(a is not b for a, b in zip(seen, grads, strict=False)):
            flat = span(grads)
            if flat is not None and _layout(grads, flat) != _layout(self.params, self._flat):
                flat = None  # packed differently from the parameters: elements would not line up
            self._grads_seen = (list(grads), flat)
        return flat

    def _uniform_sgd(self, params: list, grads: list, state: list, lr: float) -> None:
        # the rule of torch.optim.SGD with foreach=True, torch's default on tensors of one device and dtype; every
        # member gets the same scalars
        _, wd, momentum, _, _ = self._scalars
        bufs = [s[0] for s in state]
        if _fused_sgd_is_exact(params):
            # the same update in one pass over the buffer instead of three or four (torch's SGD(fused=True)
            # kernel); buf = momentum·buf + g from a zero buffer is g, as torch's first step sets it
            torch._fused_sgd_(
                params,
                grads,
                bufs if momentum != 0 else [],
                weight_decay=wd,
                momentum=momentum,
                lr=lr,
                dampening=0.0,
                nesterov=False,
                maximize=False,
                is_first_step=False,
            )
            return
        if wd != 0:
            torch._foreach_add_(grads, params, alpha=wd)
        torch._foreach_mul_(bufs, momentum)
        torch._foreach_add_(bufs, grads)
        torch._foreach_add_(params, bufs, alpha=-lr)

    def _fused_adam(self, grads: list[torch.Tensor], lr: float) -> None:
        # torch.optim.Adam/AdamW(fused=True), make_optimizer's rule for fit: torch's fused kernel, one pass over each
        # tensor where the foreach rule makes six or seven (benchmarks/optimizer.py). It is given the stacked
        # parameters one by one, as torch.optim gives a model's, not their packed buffer: its vector loop and its
        # scalar loop (a tensor's last few elements) round differently, so the same tensors must end in the same loop.
        _, wd, _, beta1, beta2 = self._scalars
        self._fused_kernel(self.params, self._aligned(grads), self.state, lr, wd, beta1, beta2)

    def _aligned(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        # the fused kernel walks a parameter, its gradient and moments in memory order: each must share the
        # parameter's layout (the moments do; a functional gradient may come transposed, e.g. from torch.func under
        # vmap)
        return [
            g if g.stride() == p.stride() else torch.empty_like(p).copy_(g)
            for p, g in zip(self.params, grads, strict=True)
        ]

    def _fused_kernel(self, params, grads, state, lr: float, wd: float, beta1: float, beta2: float) -> None:
        """torch's fused Adam or AdamW kernel on ``params`` with these scalars, at step ``self.t`` (a float32 tensor,
        as torch.optim keeps it)."""
        if self._step_count is None:
            self._step_count = torch.zeros((), dtype=torch.float32, device=self.params[0].device)
        self._step_count.fill_(self.t)
        fused = torch._fused_adamw_ if self.name == "adamw" else torch._fused_adam_
        fused(
            params,
            grads,
            [s[0] for s in state],
            [s[1] for s in state],
            [],
            [self._step_count] * len(params),
            lr=lr,
            beta1=beta1,
            beta2=beta2,
            weight_decay=wd,
            eps=self.eps,
            amsgrad=False,
            maximize=False,
        )

    def _sgd(self, grads: list[torch.Tensor], lr: torch.Tensor) -> None:
        # torch.optim.SGD (dampening 0, no nesterov): g += wd·p; buf = μ·buf + g (buf = g at step 1, which is
        # what μ·0 + g gives); p -= lr·buf. With μ = 0 the buffer is just g, as torch without momentum.
        decay = bool((self.weight_decay != 0).any())
        shaped = self._shaped
        for i, (p, g, (buf,)) in enumerate(zip(self.params, grads, self.state, strict=True)):
            if decay:
                g = g.addcmul_(p, shaped["weight_decay"][i])
            buf.mul_(shaped["momentum"][i]).add_(g)
            p.addcmul_(buf, _b(lr, p), value=-1.0)

    def _adam(self, grads: list[torch.Tensor], lr: torch.Tensor) -> None:
        # per-member hyper-parameters: the fused kernel once per member, on its slices of the stacked parameters
        # (each contiguous) with its own scalars, as M solo torch.optim.Adam(fused=True) instances would step
        if self._members is None:  # each member's views and fixed scalars, made once: the step is a hot path
            fixed = zip(self.weight_decay.tolist(), self.beta1.tolist(), self.beta2.tolist(), strict=True)
            self._members = [
                ([p[m] for p in self.params], [[slot[m] for slot in slots] for slots in self.state], *scalars)
                for m, scalars in enumerate(fixed)
            ]
        grads = self._aligned(grads)
        for m, (lr_m, (params, state, wd, beta1, beta2)) in enumerate(zip(lr.tolist(), self._members, strict=True)):
            self._fused_kernel(params, [g[m] for g in grads], state, lr_m, wd, beta1, beta2)
