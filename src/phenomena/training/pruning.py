"""Sparsity: masks as first-class objects, magnitude pruning, iterative magnitude pruning (lottery tickets)
with rewinding and its two controls, and the pruning-at-initialization baselines SNIP and SynFlow.

Conventions (documented choices where the literature differs):

- What is prunable: by default every trainable parameter with >= 2 dims (Linear and Conv weights); biases and
  normalization parameters are never pruned (Frankle & Carbin 2019; open_lth; Tanaka et al. 2020's default).
- A round of magnitude pruning removes ``ceil(rate * remaining)`` of the *remaining* weights (open_lth's
  ``sparse_global``), exactly that many: ties in magnitude are broken by position, never by removing extra.
- Layer exceptions: the output layer (the last prunable parameter in ``named_parameters`` order) is pruned at
  ``output_factor * rate``. Frankle & Carbin (LeNet-300-100: hidden 20%, output 10% per round, layer-wise) is
  ``scope="layerwise", output_factor=0.5`` (the default); open_lth's ``mnist_lenet_300_100`` (global, output
  layer ignored) is ``scope="global", output_factor=0``. In global scope the layers at the common rate share
  one magnitude threshold; layers with their own rate (the output layer, or ``rates``) are pruned layer-wise.
- Scores are raw ``|w|`` of the stored parameter (as open_lth), not of an effective weight such as
  ``ScaledLinear.weight_mult * w``: under NTK/muP parameterizations global pruning compares raw entries.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from phenomena.errors import UserError
from phenomena.probes.core import as_batches, select_param_names

SCOPES = ("layerwise", "global")


class Mask(dict):
    """A pruning mask: parameter name -> bool tensor of the parameter's shape (True = kept).

    Example:
        >>> mask = Mask.ones(model)                  # every weight matrix, nothing pruned
        >>> mask = magnitude_prune(model, 0.2, mask=mask)
        >>> mask.sparsity(), mask.layer_sparsity()
        >>> mask.apply(model)                        # zero pruned weights in place
        >>> fit(model, data, loss, opt, steps, callbacks=[mask.callback()])   # keep them zero
        >>> mask.save("mask.safetensors"); Mask.load("mask.safetensors")
    """

    def __init__(self, entries: Mapping[str, Tensor] = ()):
        super().__init__()
        for name, t in dict(entries).items():
            if not isinstance(t, Tensor):
                raise UserError(f"mask entry {name!r} must be a tensor, got {type(t).__name__}.")
            self[name] = t.detach().to(torch.bool)

    @classmethod
    def ones(cls, model: nn.Module, include: Any = None) -> Mask:
        """A mask keeping everything, over ``prunable_names(model, include)``."""
        params = dict(model.named_parameters())
        return cls({n: torch.ones_like(params[n], dtype=torch.bool) for n in prunable_names(model, include)})

    def counts(self) -> dict[str, tuple[int, int]]:
        """name -> (kept, total)."""
        return {n: (int(m.sum()), m.numel()) for n, m in self.items()}

    def sparsity(self) -> float:
        """Fraction of the masked entries that are pruned (0 for a dense mask)."""
        kept, total = (sum(c[i] for c in self.counts().values()) for i in (0, 1))
        return 1.0 - kept / total if total else 0.0

    def layer_sparsity(self) -> dict[str, float]:
        """name -> fraction of that parameter pruned."""
        return {n: 1.0 - k / t for n, (k, t) in self.counts().items()}

    def save(self, path: str | Path) -> Path:
        """Write the mask as a safetensors file of bool tensors; returns the path."""
        from safetensors.torch import save_file

        path = Path(path)
        save_file({n: m.cpu().contiguous() for n, m in self.items()}, str(path))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Mask:
        """Read a mask written by :meth:`save`."""
        from safetensors.torch import load_file

        if not Path(path).is_file():
            raise UserError(f"mask file {str(path)!r} does not exist.")
        return cls(load_file(str(path)))

    def check(self, model: nn.Module) -> dict[str, nn.Parameter]:
        """The model's parameters named by the mask; UserError if a name or shape does not match."""
        params = dict(model.named_parameters())
        for n, m in self.items():
            if n not in params:
                raise UserError(f"mask entry {n!r} is not a parameter of the model.")
            if params[n].shape != m.shape:
                shape = tuple(params[n].shape)
                raise UserError(f"mask entry {n!r} has shape {tuple(m.shape)} but the parameter has {shape}.")
        return {n: params[n] for n in self}

    @torch.no_grad()
    def apply(self, model: nn.Module) -> nn.Module:
        """Zero the pruned entries of ``model``'s parameters in place; returns the model."""
        for n, p in self.check(model).items():
            p.mul_(self[n].to(p.device))
        return model

    def register_hooks(self, model: nn.Module) -> list:
        """Gradient hooks that zero the gradient of pruned entries; returns the handles (``h.remove()``).

        With zeroed weights and fresh optimizer state this keeps them exactly zero under SGD (momentum,
        coupled weight decay), Adam and AdamW; :meth:`callback` also covers optimizers with prior state.
        """
        return [p.register_hook(_zero_pruned(self[n].to(p.device))) for n, p in self.check(model).items()]

    def callback(self) -> Callable:
        """A :func:`phenomena.training.fit` callback re-applying the mask after every step (and at step 0)."""

        def reapply(state) -> None:
            self.apply(state.model)

        return reapply


def prunable_names(model: nn.Module, include: Any = None) -> list[str]:
    """Names of the prunable parameters: by default trainable ones with >= 2 dims (weights, not biases).

    ``include`` overrides the default: a predicate on (name, parameter), or any non-predicate form of the
    probes' ``params=`` (``phenomena.probes.core.ParamFilter``): a parameter or module name (``"fc1"``: all
    its trainable parameters, bias included), a module of the model, or an iterable of names and modules.
    """
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if include is None:
        names = [n for n, p in params if p.ndim >= 2]
    elif callable(include) and not isinstance(include, nn.Module):
        names = [n for n, p in params if include(n, p)]
    else:
        names = select_param_names(model, include)
    if not names:
        raise UserError("no prunable parameter: the model has no trainable weight with >= 2 dims selected.")
    return names


def magnitude_prune(
    model: nn.Module,
    rate: float,
    *,
    mask: Mask | None = None,
    scope: str = "layerwise",
    output_factor: float = 0.5,
    rates: Mapping[str, float] | None = None,
    include: Any = None,
) -> Mask:
    """One round of magnitude pruning: remove ``ceil(r * remaining)`` smallest-``|w|`` remaining weights.

    Args:
        model: the (trained) model whose magnitudes are ranked.
        rate: fraction of the remaining weights to remove, in [0, 1).
        mask: the current mask (default: dense over ``prunable_names(model, include)``).
        scope: "layerwise" (each parameter loses ``rate`` of its remaining weights) or "global" (one
            threshold across the parameters at the common rate).
        output_factor: the output layer's rate is ``output_factor * rate`` (0.5: Frankle & Carbin; 0: never
            pruned, open_lth; 1: like the others).
        rates: explicit per-parameter rates, overriding the above (0 = never prune that parameter).

    Returns:
        The new ``Mask`` (the input mask is not modified).

    Example:
        >>> m1 = magnitude_prune(trained, 0.2)                   # Frankle & Carbin's LeNet convention
        >>> m1 = magnitude_prune(trained, 0.2, scope="global", output_factor=0)   # open_lth's
    """
    if scope not in SCOPES:
        raise UserError(f"unknown scope {scope!r}; choose 'layerwise' or 'global'.")
    _check_fraction(rate, "rate")
    if not isinstance(output_factor, int | float) or output_factor < 0 or output_factor * rate >= 1:
        raise UserError(f"output_factor must be >= 0 with output_factor * rate < 1; got {output_factor}.")
    mask = Mask.ones(model, include) if mask is None else mask
    params = mask.check(model)
    names = list(mask)
    per = {n: rate for n in names}
    per[names[-1]] = rate * output_factor
    for n, r in (rates or {}).items():
        if n not in per:
            raise UserError(f"rates names {n!r}, not in the mask; the masked parameters are {names[:6]}.")
        per[n] = _check_fraction(r, f"rate of {n}")
    scores = {n: params[n].detach().abs() for n in names}
    pool = [n for n in names if scope == "global" and per[n] == rate]
    out = prune_smallest(scores, Mask({n: mask[n] for n in pool}), fraction=rate) if pool else Mask()
    for n in names:
        if n not in pool:
            out.update(prune_smallest({n: scores[n]}, Mask({n: mask[n]}), fraction=per[n]))
    return Mask({n: out[n] for n in names})


def prune_smallest(
    scores: Mapping[str, Tensor], mask: Mask, *, fraction: float | None = None, count: int | None = None
) -> Mask:
    """Remove the lowest-scoring kept entries, pooled over all of ``mask``'s parameters (one global ranking).

    Removes ``count`` entries, or ``ceil(fraction * kept)``; ties are broken by position (parameter order,
    then flat index), so exactly that many go. Returns a new mask.
    """
    names = list(mask)
    flat_scores = torch.cat([scores[n].detach().flatten().double().cpu() for n in names])
    alive = torch.cat([mask[n].flatten().cpu() for n in names])
    kept = int(alive.sum())
    k = math.ceil(fraction * kept - 1e-9) if count is None else int(count)
    if not 0 <= k <= kept:
        raise UserError(f"cannot prune {k} entries: only {kept} are left.")
    ranked = torch.where(alive, flat_scores, torch.full_like(flat_scores, math.inf))
    order = torch.argsort(ranked, stable=True)
    new = alive.clone()
    new[order[:k]] = False
    out, start = Mask(), 0
    for n in names:
        size = mask[n].numel()
        out[n] = new[start : start + size].view(mask[n].shape).to(mask[n].device)
        start += size
    return out


def random_mask(mask: Mask, generator: torch.Generator | None = None) -> Mask:
    """The random-pruning control: as many kept entries per parameter as ``mask``, at uniformly random places.

    Example:
        >>> control = random_mask(ticket_mask, torch.Generator().manual_seed(0))
    """
    out = Mask()
    for n, m in mask.items():
        keep = torch.zeros(m.numel(), dtype=torch.bool)
        keep[torch.randperm(m.numel(), generator=generator)[: int(m.sum())]] = True
        out[n] = keep.view(m.shape).to(m.device)
    return out


@dataclasses.dataclass
class IMPRound:
    """What ``train_fn`` gets with the model: pass ``callbacks`` to ``fit`` (they keep the mask applied and,
    in round 0, capture the rewind point) and train ``total - start_step`` steps (``start_step`` = k when
    rewinding to θ_k; the learning-rate schedule should resume there)."""

    round: int
    kind: str  # "dense", "ticket", "reinit" or "random_mask"
    mask: Mask
    callbacks: list
    start_step: int


@dataclasses.dataclass
class IMPResult:
    """Iterative magnitude pruning, round by round.

    ``masks[r]``: the mask trained in round r (``masks[0]`` dense). ``metrics[r]``: what ``train_fn``
    returned for the ticket of round r (round 0: the dense network). ``controls[name][r - 1]``: the control's
    metrics in round r >= 1. ``weights[r]``: round r's trained state dict (when ``keep_weights``).
    ``rewind_step``: k of θ_k.
    """

    masks: list[Mask]
    metrics: list[dict]
    controls: dict[str, list[dict]]
    rewind_step: int
    weights: list[dict] | None = None

    def table(self) -> list[dict]:
        """One row per round: round, sparsity, the ticket's metrics, each control's as ``<control>_<key>``."""
        rows = []
        for r, (m, met) in enumerate(zip(self.masks, self.metrics, strict=True)):
            row = {"round": r, "sparsity": m.sparsity(), **met}
            for name, vals in self.controls.items():
                if r >= 1:
                    row.update({f"{name}_{k}": v for k, v in vals[r - 1].items()})
            rows.append(row)
        return rows


CONTROLS = ("reinit", "random_mask")


def imp(
    build_model: Callable[[int], nn.Module],
    train_fn: Callable[[nn.Module, IMPRound], Mapping[str, float]],
    rounds: int,
    rate: float = 0.2,
    *,
    rewind: str | int = "init",
    seed: int = 0,
    controls: Iterable[str] = (),
    control_seed: int | None = None,
    keep_weights: bool = False,
    train_round: Callable[[list[tuple[nn.Module, IMPRound]]], list[Mapping[str, float]]] | None = None,
    **prune_kwargs: Any,
) -> IMPResult:
    """Iterative magnitude pruning (Frankle & Carbin 2019; rewinding: Frankle et al. 2020).

    Round 0 trains ``build_model(seed)`` densely. Each later round prunes ``rate`` of the remaining weights of
    the previous round's trained ticket (:func:`magnitude_prune`, with ``prune_kwargs`` such as ``scope``,
    ``output_factor``), resets the weights to θ_0 (``rewind="init"`` or 0) or to θ_k of the dense run
    (``rewind=k``), applies the mask and retrains. Controls, per round and never fed back into the pruning:
    "reinit" (same mask, fresh init ``build_model(control_seed)``, default ``seed + 1``) and "random_mask"
    (same per-layer sparsity at random positions, from the same rewind weights; generator seeded with
    ``control_seed + 7919 * round``). Both controls start at ``start_step = k`` as the ticket does.

    Args:
        build_model: seed -> a fresh model (its initialization must depend only on the seed).
        train_fn: ``(model, IMPRound) -> dict of metrics``; trains in place, passing ``round.callbacks`` to
            :func:`~phenomena.training.fit`.
        rounds: number of prune-rewind-retrain rounds after the dense run.
        rate: fraction of remaining weights removed per round.
        train_round: optional ``[(model, IMPRound), ...] -> [metrics, ...]`` that trains the models of a pruned
            round (the ticket, then each control) together, e.g. as one
            :func:`~phenomena.training.train_ensemble` with ``masks=[r.mask for _, r in arms]``; round 0 (which
            captures the rewind point through its callbacks) always goes through ``train_fn``.

    Example:
        >>> def train_fn(model, rnd):
        ...     opt = torch.optim.SGD(model.parameters(), lr=0.1)
        ...     fit(model, data, F.cross_entropy, opt, 1000 - rnd.start_step, batch_size=100,
        ...         generator=torch.Generator().manual_seed(0), callbacks=rnd.callbacks)
        ...     return {"test_acc": evaluate(model, data.x_test, data.y_test, F.cross_entropy)[1]}
        >>> res = imp(lambda s: MLP(40, 10, width=100, seed=s), train_fn, rounds=5, controls=["reinit"])
    """
    if not isinstance(rounds, int) or rounds < 0:
        raise UserError(f"rounds must be a non-negative integer; got {rounds!r}.")
    if rewind == "init":
        k = 0
    elif isinstance(rewind, int) and not isinstance(rewind, bool) and rewind >= 0:
        k = rewind
    else:
        raise UserError(f"rewind must be 'init' or a non-negative step count k; got {rewind!r}.")
    controls = list(controls)
    for c in controls:
        if c not in CONTROLS:
            raise UserError(f"unknown IMP control {c!r}; choose from {', '.join(CONTROLS)}.")
    control_seed = seed + 1 if control_seed is None else control_seed

    model = build_model(seed)
    mask = Mask.ones(model, prune_kwargs.get("include"))
    rewound: dict[str, Tensor] = {}
    if k == 0:
        rewound = _state(model)

    def capture(state) -> None:
        if state.step == k and not rewound:
            rewound.update(_state(state.model))

    masks, metrics, weights = [mask], [], []
    control_metrics: dict[str, list[dict]] = {c: [] for c in controls}
    metrics.append(dict(train_fn(model, IMPRound(0, "dense", mask, [mask.callback(), capture], 0))))
    if not rewound:
        raise UserError(f"rewind={k} but round 0's training never reached step {k} (were callbacks passed?).")
    for r in range(1, rounds + 1):
        if keep_weights:
            weights.append(_state(model))
        mask = magnitude_prune(model, rate, mask=mask, **prune_kwargs)
        masks.append(mask)
        model.load_state_dict(rewound)
        mask.apply(model)
        arms = [(model, IMPRound(r, "ticket", mask, [mask.callback()], k))]
        for c in controls:  # each control is built from the rewind point, never from the trained ticket
            if c == "reinit":
                other, m = build_model(control_seed), mask
            else:
                other = copy.deepcopy(model)
                other.load_state_dict(rewound)  # the unmasked rewind weights: the ticket's mask is not kept
                m = random_mask(mask, torch.Generator().manual_seed(control_seed + 7919 * r))
            m.apply(other)
            arms.append((other, IMPRound(r, c, m, [m.callback()], k)))
        trained = train_round(arms) if train_round is not None else [train_fn(mod, rnd) for mod, rnd in arms]
        if len(trained) != len(arms):
            raise UserError(f"train_round returned {len(trained)} results for {len(arms)} models")
        metrics.append(dict(trained[0]))
        for c, out in zip(controls, trained[1:], strict=True):
            control_metrics[c].append(dict(out))
    if keep_weights:
        weights.append(_state(model))
    return IMPResult(masks, metrics, control_metrics, k, weights if keep_weights else None)


def snip_scores(model: nn.Module, loss_fn: Callable, batches: Any, include: Any = None) -> dict[str, Tensor]:
    """SNIP connection sensitivity ``|g ⊙ w|`` (Lee et al. 2019), ``g`` the gradient of the example-weighted
    mean loss over ``batches``: the magnitude of ``∂L/∂c`` at ``c = 1`` for a multiplicative mask ``c``.

    The model is evaluated through ``functional_call`` on copies (BatchNorm statistics are not updated).
    """
    names = prunable_names(model, include)
    params = {n: p.detach().clone().requires_grad_(n in names) for n, p in model.named_parameters()}
    data = as_batches(batches)
    total = sum(size for _, _, size in data)
    loss = 0.0
    for x, y, size in data:
        buffers = {n: b.clone() for n, b in model.named_buffers()}
        loss = loss + size / total * loss_fn(functional_call(model, (params, buffers), (x,)), y)
    grads = torch.autograd.grad(loss, [params[n] for n in names])
    return {n: (g * params[n]).detach().abs() for n, g in zip(names, grads, strict=True)}


def snip(model: nn.Module, loss_fn: Callable, batches: Any, sparsity: float, include: Any = None) -> Mask:
    """SNIP pruning at initialization: keep the ``1 - sparsity`` fraction of prunable weights with the largest
    connection sensitivity, one global ranking, single shot (Lee et al. 2019).

    Example:
        >>> mask = snip(MLP(40, 10, seed=0), F.cross_entropy, (x[:100], y[:100]), sparsity=0.9)
    """
    _check_fraction(sparsity, "sparsity")
    scores = snip_scores(model, loss_fn, batches, include)
    mask = Mask({n: torch.ones_like(s, dtype=torch.bool) for n, s in scores.items()})
    total = sum(s.numel() for s in scores.values())
    return prune_smallest(scores, mask, count=_pruned_count(sparsity, total))


def synflow_scores(
    model: nn.Module, input_shape: tuple[int, ...], mask: Mask | None = None, include: Any = None
) -> dict[str, Tensor]:
    """Synaptic saliency ``|∂R/∂w ⊙ w|`` of ``R = 1ᵀ f(1; |θ| ⊙ mask)`` (Tanaka et al. 2020).

    As the authors' code: a float64 copy in eval mode, every floating parameter and buffer replaced by its
    absolute value, pruned weights zeroed, input an all-ones tensor of shape ``(1, *input_shape)``. Scores
    cover the mask's parameters (default: ``prunable_names(model, include)``) and are float64.

    Example:
        >>> scores = synflow_scores(MLP(40, 10, seed=0), (40,))
    """
    if mask is None:
        mask = Mask.ones(model, include)
    mask.check(model)
    return _SynFlow(model, input_shape, list(mask)).scores(mask)


def synflow(
    model: nn.Module,
    input_shape: tuple[int, ...],
    sparsity: float,
    iterations: int = 100,
    include: Any = None,
) -> Mask:
    """SynFlow: iterative, data-free pruning at initialization (Tanaka et al. 2020).

    At iteration i = 1..``iterations`` the synaptic saliencies are recomputed under the current mask and the
    globally top ``density**(i / iterations)`` fraction is kept (``density = 1 - sparsity``; the authors'
    exponential schedule), ranking all prunable entries afresh each time (pruned ones score 0), so the final
    mask has the requested sparsity.

    Example:
        >>> mask = synflow(MLP(40, 10, seed=0), (40,), sparsity=0.99)
    """
    _check_fraction(sparsity, "sparsity")
    if not isinstance(iterations, int) or iterations < 1:
        raise UserError(f"iterations must be a positive integer; got {iterations!r}.")
    mask = Mask.ones(model, include)
    flow = _SynFlow(model, input_shape, list(mask))
    full = Mask({n: torch.ones_like(m) for n, m in mask.items()})
    total = sum(m.numel() for m in mask.values())
    for i in range(1, iterations + 1):
        density = (1 - sparsity) ** (i / iterations)
        mask = prune_smallest(flow.scores(mask), full, count=_pruned_count(1 - density, total))
    return mask


class _SynFlow:
    """A float64, eval-mode, absolute-valued copy of a model, built once for all SynFlow iterations."""

    def __init__(self, model: nn.Module, input_shape: tuple[int, ...], names: list[str]):
        self.net = copy.deepcopy(model).double().eval()
        self.names = names
        state = self.net.state_dict()
        self.state = {n: t.detach().abs() if t.is_floating_point() else t for n, t in state.items()}
        try:
            self.ones = torch.ones(1, *input_shape, dtype=torch.float64)
        except TypeError:
            raise UserError(f"input_shape must be a tuple of integers; got {input_shape!r}.") from None

    def scores(self, mask: Mask) -> dict[str, Tensor]:
        leaves = {n: self.state[n].clone().requires_grad_(True) for n in self.names}
        state = {**self.state, **{n: leaves[n] * mask[n] for n in self.names}}
        r = functional_call(self.net, state, (self.ones,)).sum()
        grads = torch.autograd.grad(r, [leaves[n] for n in self.names])
        return {n: (g * leaves[n]).detach().abs() for n, g in zip(self.names, grads, strict=True)}


def _zero_pruned(mask: Tensor) -> Callable[[Tensor], Tensor]:
    return lambda g: g * mask


def _pruned_count(sparsity: float, total: int) -> int:
    return min(total, math.floor(sparsity * total + 1e-9))


def _check_fraction(value: float, what: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1:
        raise UserError(f"{what} must be a number in [0, 1); got {value!r}.")
    return float(value)


def _state(model: nn.Module) -> dict[str, Tensor]:
    return {n: t.detach().clone() for n, t in model.state_dict().items()}
