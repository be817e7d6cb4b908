"""Train M same-shape models at once: a vectorized ensemble over seeds and per-member hyper-parameters.

Member m is ``build_model(seeds[m])`` trained as :func:`phenomena.training.fit` would train it alone with
``torch.optim.SGD/Adam/AdamW`` and ``generator=torch.Generator().manual_seed(order_seeds[m])``: same
initialization, minibatch order and update rule, its own lr / weight decay / momentum / betas, optionally its
own data set (e.g. its own label-noise draw). Parameters are stacked on a leading member axis, the sum of the
members' losses is differentiated once (members share no computation, so each gradient is the solo gradient),
and :class:`~phenomena.training.functional_optim.FunctionalOptimizer` updates all members in place.

Methods: ``"bmm"`` batched matrix products (``torch.baddbmm``) for plain MLPs (:class:`phenomena.models.MLP`
on feature vectors, any parameterization, or an ``nn.Sequential`` of ``nn.Linear`` and element-wise
activations); ``"vmap"`` ``torch.func.functional_call`` of any module under ``torch.func.vmap``; ``"loop"``
the members one after another with the plain ``fit``, the fallback where vmap cannot run (BatchNorm with
running statistics, dropout, a forward that fails under vmap), taken automatically with a warning;
``"auto"``: bmm where it applies, else vmap, else loop.

For plain ReLU or tanh MLPs with cross-entropy, the bmm step is written out (:mod:`phenomena.training.bmm_step`:
forward, loss and backward as batched products into buffers allocated once, no autograd graph), which brings
training at width >= 256 to about two thirds of the machine's GEMM peak; ``benchmarks/ensemble.py`` measures the
fraction of peak per width against the loop of solo ``fit`` runs. bmm is the default for plain MLPs: faster than
vmap in every pairing measured, no functional-call or batching overhead, and contiguous weight gradients.

A member whose training loss turns non-finite is frozen at the parameters that produced it (that step's update
is not applied), flagged diverged, and logged as nan from then on; the others go on exactly as alone. With
``stop_train_loss``, a member whose full training loss at a logged step is at or below it stops there (the
stopping rule of Jiang et al. 2020's model zoo: train to cross-entropy 0.01): its parameters stay those of that
step, it is logged as nan afterwards, and training ends once no member is left training.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from phenomena.data.dataset import Dataset
from phenomena.errors import DivergedError, UserError
from phenomena.models.layers import Activation, ScaledLinear
from phenomena.models.mlp import MLP
from phenomena.training.bmm_step import BmmStep, activation_name
from phenomena.training.functional_optim import FunctionalOptimizer, check_states, per_member
from phenomena.training.losses import loss_function, predictions
from phenomena.training.optim import OPTIMIZERS, SGD, Adam, AdamW, warmup
from phenomena.training.packed import packed_copy
from phenomena.training.pruning import Mask
from phenomena.training.trainer import History, evaluate, fit

ENSEMBLE_METHODS = ("auto", "bmm", "vmap", "loop")
ENSEMBLE_METRICS = ("batch_loss", "train_loss", "train_acc", "test_loss", "test_acc")
_ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.Softplus, nn.LeakyReLU, nn.Identity)
_WARNED: set[str] = set()
# rows per chunk when the written-out bmm step evaluates (at most eval_batch_size): 16 members of width 256 evaluated
# 4000 + 1000 rows in ~106 ms in chunks of 256 against ~140 ms in one chunk (whose buffers leave the cache)
WRITTEN_OUT_EVAL_ROWS = 256


@dataclasses.dataclass
class EnsembleResult:
    """What :func:`train_ensemble` returns.

    ``models[m]``: member m's trained module (the one ``build_model(seeds[m])`` built). ``curves[name]``:
    float64 [M, len(steps)] of :data:`ENSEMBLE_METRICS` at the logged ``steps`` (nan once a member diverged or
    stopped; accuracies nan for regression). ``diverged[m]``, ``diverged_at[m]``: whether and at which step
    member m was frozen. ``stopped_at[m]``: the logged step at which member m met ``stop_train_loss`` (None if
    it never did). ``method``: the method that ran.
    """

    models: list[nn.Module]
    seeds: list[int]
    steps: list[int]
    curves: dict[str, torch.Tensor]
    diverged: list[bool]
    diverged_at: list[int | None]
    method: str
    stopped_at: list[int | None] = dataclasses.field(default_factory=list)

    def history(self, member: int) -> History:
        """Member ``member``'s curves as a plain-trainer :class:`History`, up to its divergence or stop."""
        h, at = History(), self.diverged_at[member]
        stop = self.stopped_at[member] if self.stopped_at else None
        for j, step in enumerate(self.steps):
            if (at is not None and step >= at) or (stop is not None and step > stop):
                break
            h.log(step, {name: float(c[member, j]) for name, c in self.curves.items()})
        return h


def train_ensemble(
    build_model: Callable[[int], nn.Module],
    seeds: Sequence[int],
    data: Dataset | Sequence[Dataset],
    *,
    loss: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "ce",
    optimizer: str = "sgd",
    lr: float | Sequence[float] | torch.Tensor = 0.01,
    weight_decay: float | Sequence[float] | torch.Tensor = 0.0,
    momentum: float | Sequence[float] | torch.Tensor = 0.0,
    betas: tuple = (0.9, 0.999),
    eps: float = 1e-8,
    steps: int = 1000,
    batch_size: int | None = None,
    warmup_steps: int = 0,
    log_every: int = 100,
    order_seeds: Sequence[int] | None = None,
    method: str = "auto",
    progress=None,
    eval_batch_size: int = 8192,
    stop_train_loss: float | None = None,
    masks: Sequence[Mapping[str, torch.Tensor] | None] | None = None,
    evaluate: Sequence[str] = ("train", "test"),
    resume: Sequence[dict] | None = None,
) -> EnsembleResult:
    """Train ``len(seeds)`` models of one architecture at once; member m matches a solo :func:`fit` run.

    Args:
        build_model: ``seed -> nn.Module``, called once per seed (initialization is not vmappable: members are
            built in a loop, then stacked); all members need the same parameter names, shapes and dtypes.
        seeds: one per member, for ``build_model`` and (unless ``order_seeds``) the minibatch generator.
        data: one shared :class:`Dataset`, or one per member with identical shapes (e.g. label-noise draws).
        loss: "ce" or "mse" (:func:`~phenomena.training.loss_function`), or a mean-over-batch callable.
        optimizer: "sgd" (momentum, coupled decay), "adam" or "adamw" (decoupled decay), as ``torch.optim``.
        lr, weight_decay, momentum: a number or one value per member; so is each entry of ``betas``.
        steps, batch_size: optimizer steps; ``None`` (or >= n_train) is full batch, else each member takes
            consecutive slices of a fresh permutation per epoch, drawn from its own generator (as ``fit``).
        warmup_steps: linear warm-up as :func:`~phenomena.training.warmup` (step t uses ``min(t / w, 1)``).
        log_every: :data:`ENSEMBLE_METRICS` per member at step 0, every ``log_every`` steps and the last step.
        order_seeds: seeds of the minibatch generators, where they should differ from ``seeds``.
        method: "auto", "bmm", "vmap" or "loop" (module docstring); one that cannot run on the model falls
            back (bmm → vmap → loop) with a warning.
        progress: a tqdm-like bar (``update``, ``set_postfix``), advanced in member-steps (M·steps in all).
        eval_batch_size: rows per chunk when evaluating the train and test sets.
        stop_train_loss: stop each member at the first logged step whose full training loss is at or below
            this value (its parameters are those of that step); ``None`` trains every member ``steps`` steps.
        masks: per member, parameter name -> bool tensor of that parameter's shape (True = kept; e.g. a
            :class:`~phenomena.training.Mask`), or None: the pruned entries are zeroed before training and after
            every update, as ``fit`` with ``Mask.callback()`` keeps them (retraining lottery tickets at once).
        evaluate: the splits evaluated at each logged step, of "train" and "test"; a split left out keeps NaN
            curves and costs nothing (a run that reads only when the training loss reaches a target needs
            only "train"; ``stop_train_loss`` needs it).
        resume: per member, the ``state_dict()`` of a solo ``torch.optim`` optimizer of ``optimizer``'s rule over
            its trainable parameters (in ``model.parameters()`` order), to train on from there as ``fit`` with that
            optimizer loaded would: its moments and step count (the same for every Adam member); the
            hyper-parameters stay those given here. Continues runs, e.g. children spawned from a parent at step k.

    Returns:
        An :class:`EnsembleResult`.

    Example::

        res = train_ensemble(lambda s: MLP(40, 10, width=128, seed=s), range(8), mnist1d(), lr=[0.1] * 4 +
                             [0.05] * 4, momentum=0.9, steps=2000, batch_size=100)
        res.curves["test_acc"][:, -1]          # each member's final test accuracy
    """
    seeds = [int(s) for s in seeds]
    m = len(seeds)
    if m == 0:
        raise UserError("train_ensemble needs at least one seed")
    order_seeds = seeds if order_seeds is None else [int(s) for s in order_seeds]
    if len(order_seeds) != m:
        raise UserError(f"order_seeds must have one seed per member ({m}); got {len(order_seeds)}")
    if method not in ENSEMBLE_METHODS:
        raise UserError(f"unknown ensemble method {method!r}; choose one of {', '.join(ENSEMBLE_METHODS)}")
    if optimizer not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if not isinstance(steps, int) or steps < 0:
        raise UserError(f"steps must be a non-negative integer; got {steps!r}")
    if batch_size is not None and batch_size < 1:
        raise UserError(f"batch_size must be a positive integer or None; got {batch_size!r}")
    if log_every < 1 or warmup_steps < 0:
        raise UserError(f"log_every must be >= 1 and warmup_steps >= 0; got {log_every} and {warmup_steps}")
    if stop_train_loss is not None and not (isinstance(stop_train_loss, int | float) and stop_train_loss >= 0):
        raise UserError(f"stop_train_loss must be a non-negative number or None; got {stop_train_loss!r}")
    evaluate = tuple(evaluate)
    if not set(evaluate) <= {"train", "test"} or len(set(evaluate)) != len(evaluate):
        raise UserError(f'evaluate must list distinct splits of "train" and "test"; got {evaluate!r}')
    if stop_train_loss is not None and "train" not in evaluate:
        raise UserError('stop_train_loss reads the training loss: evaluate must include "train"')
    datas = _member_datasets(data, m)
    loss_fn = loss_function(loss, datas[0].num_classes) if isinstance(loss, str) else loss
    hyper = dict(
        lr=per_member(lr, m, "learning rate"),
        momentum=per_member(momentum, m, "momentum"),
        eps=eps,
        weight_decay=per_member(weight_decay, m, "weight decay"),
        betas=tuple(per_member(b, m, "beta") for b in betas),
    )
    FunctionalOptimizer(optimizer, [torch.zeros(m)], **hyper)  # validates the hyper-parameters up front
    models = [build_model(s) for s in seeds]
    _check_same_shapes(models)
    if resume is not None:
        shapes = [p.shape for p in models[0].parameters() if p.requires_grad]
        check_states(optimizer, list(resume), shapes, m)
    member_masks = _member_masks(masks, models)
    log_steps = sorted({*range(0, steps + 1, log_every), steps})
    run = _Run(
        models,
        datas,
        loss_fn,
        optimizer,
        hyper,
        steps,
        batch_size,
        warmup_steps,
        log_steps,
        order_seeds,
        progress,
        eval_batch_size,
        stop_train_loss,
        member_masks,
        evaluate,
        None if resume is None else list(resume),
    )
    chosen = _choose_method(method, models, datas[0], loss_fn)
    _train_loop(run) if chosen == "loop" else _train_vectorized(run, chosen)
    diverged = [a is not None for a in run.diverged_at]
    return EnsembleResult(
        models, seeds, log_steps, run.curves, diverged, list(run.diverged_at), chosen, list(run.stopped_at)
    )


@dataclasses.dataclass
class _Run:
    """What both training paths need, and the per-member results they fill in."""

    models: list[nn.Module]
    datas: list[Dataset]
    loss_fn: Callable
    optimizer: str
    hyper: dict
    steps: int
    batch_size: int | None
    warmup_steps: int
    log_steps: list[int]
    order_seeds: list[int]
    progress: object
    eval_batch_size: int
    stop_train_loss: float | None
    masks: list[Mask]  # per member (empty: nothing pruned)
    evaluate: tuple[str, ...]  # the splits evaluated at each logged step
    resume: list[dict] | None  # per member, a solo optimizer's state_dict() to start from

    def __post_init__(self):
        shape = (len(self.models), len(self.log_steps))
        self.curves = {name: torch.full(shape, math.nan, dtype=torch.float64) for name in ENSEMBLE_METRICS}
        self.diverged_at: list[int | None] = [None] * len(self.models)
        self.stopped_at: list[int | None] = [None] * len(self.models)
        self.log_index = {s: j for j, s in enumerate(self.log_steps)}

    def blank_from(self, member: int, step: int) -> None:
        for j, s in enumerate(self.log_steps):
            if s >= step:
                for c in self.curves.values():
                    c[member, j] = math.nan


def _member_datasets(data: Dataset | Sequence[Dataset], m: int) -> list[Dataset]:
    if isinstance(data, Dataset):
        return [data] * m
    datas = list(data)
    if len(datas) != m or not all(isinstance(d, Dataset) for d in datas):
        raise UserError(f"data must be one Dataset or one Dataset per member ({m}); got {len(datas)} items")
    for d in datas[1:]:
        for f in ("x_train", "y_train", "x_test", "y_test"):
            a, b = getattr(datas[0], f), getattr(d, f)
            if a.shape != b.shape or a.dtype != b.dtype:
                raise UserError(
                    f"per-member data sets must share shapes and dtypes; {f} differs "
                    f"({tuple(a.shape)} {a.dtype} vs {tuple(b.shape)} {b.dtype})"
                )
    return datas


def _member_masks(masks, models: list[nn.Module]) -> list[Mask]:
    """``masks`` as one :class:`Mask` per member (empty: nothing pruned), checked against its model."""
    if masks is None:
        return [Mask() for _ in models]
    masks = [Mask(mask or {}) for mask in masks]
    if len(masks) != len(models):
        raise UserError(f"masks must have one entry (a mask or None) per member ({len(models)}); got {len(masks)}")
    for mask, model in zip(masks, models, strict=True):
        mask.check(model)
    return masks


def _check_same_shapes(models: list[nn.Module]) -> None:
    def signature(mod: nn.Module):
        return [
            (n, tuple(t.shape), t.dtype, t.requires_grad) for n, t in [*mod.named_parameters(), *mod.named_buffers()]
        ]

    if any(signature(mod) != signature(models[0]) for mod in models[1:]):
        raise UserError("all members must have the same parameter and buffer names, shapes and dtypes")
    if not any(p.requires_grad for p in models[0].parameters()):
        raise UserError("the model has no trainable parameters")


# --- choosing a method ---


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, stacklevel=4)


def _vmap_blocker(model: nn.Module) -> str | None:
    """Why vmap cannot reproduce solo training of ``model``: BatchNorm updating running statistics in place,
    or dropout (masks drawn under vmap cannot follow a solo run's global RNG). None if nothing is known."""
    for name, mod in model.named_modules():
        label = name or "the model"
        if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.track_running_stats:
            return f"{label} is a {type(mod).__name__} that updates running statistics"
        if isinstance(mod, nn.modules.dropout._DropoutNd | nn.AlphaDropout) and mod.p > 0:
            return f"{label} is a {type(mod).__name__} that draws random masks"
    return None


def _bmm_layers(model: nn.Module) -> list[tuple] | None:
    """The plan ``[("linear", name, weight_mult, bias_mult) | ("act", fn, description)]`` of a plain MLP, or
    None when ``model`` is not one."""
    if isinstance(model, MLP):
        seq, prefix = model.layers, "layers."
    elif isinstance(model, nn.Sequential):
        seq, prefix = model, ""
    else:
        return None
    plan: list[tuple] = []
    for name, mod in seq.named_children():
        if type(mod) in (nn.Linear, ScaledLinear):
            mults = getattr(mod, "weight_mult", 1.0), getattr(mod, "bias_mult", 1.0)
            plan.append(("linear", f"{prefix}{name}", *mults))
        elif isinstance(mod, Activation):
            plan.append(("act", mod.fn, f"Activation({mod.name})"))
        elif type(mod) in _ELEMENTWISE:
            plan.append(("act", mod, repr(mod)))
        else:
            return None
    return plan


def _choose_method(method: str, models: list[nn.Module], data: Dataset, loss_fn: Callable) -> str:
    if method == "loop":
        return "loop"
    blocker = next((b for b in map(_vmap_blocker, models) if b is not None), None)
    if blocker is not None:
        _warn_once(f"train_ensemble: {blocker}, which vmap cannot run; training members one by one instead")
        return "loop"
    if method in ("auto", "bmm"):
        keys = [
            None if p is None else [("act", op[2]) if op[0] == "act" else op for op in p]
            for p in map(_bmm_layers, models)
        ]
        if keys[0] is not None and data.x_train.ndim == 2 and all(k == keys[0] for k in keys):
            return "bmm"
        if method == "bmm":
            _warn_once("train_ensemble: method 'bmm' needs plain MLPs on feature vectors; using vmap instead")
    try:  # one vmapped forward and backward on two rows: anything that fails here would fail in training
        params, buffers, _ = _stacked(models, set())
        out = _forward_fn("vmap", models)(params, buffers, data.x_train[:2], False)
        _member_loss(loss_fn, out, data.y_train[:2], False).sum().backward()
    except Exception as exc:
        reason = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
        _warn_once(f"train_ensemble: the model fails under vmap ({reason}); training members one by one")
        return "loop"
    return "vmap"


# --- the loop path ---


def _train_loop(run: _Run) -> None:
    """Each member with the plain trainer and its own ``torch.optim`` optimizer; a guard callback keeps the
    last parameters and, at a non-finite loss, restores them and stops, as the vectorized path freezes."""
    h = run.hyper
    for m, model in enumerate(run.models):
        params = [p for p in model.parameters() if p.requires_grad]
        lr, wd, betas = float(h["lr"][m]), float(h["weight_decay"][m]), tuple(float(b[m]) for b in h["betas"])
        if run.optimizer == "sgd":
            opt = SGD(params, lr=lr, momentum=float(h["momentum"][m]), weight_decay=wd, foreach=True)
        else:
            cls = Adam if run.optimizer == "adam" else AdamW
            opt = cls(params, lr=lr, betas=betas, eps=h["eps"], weight_decay=wd, fused=True)  # as make_optimizer
        if run.resume is not None:  # its moments and step count, with this run's hyper-parameters; copied, as
            # load_state_dict keeps the given tensors, which training would then change in the caller's state
            state = copy.deepcopy(run.resume[m]["state"])
            opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
        last = [p.detach().clone() for p in params]
        done = [0]

        def guard(state, m=m, model=model, params=params, last=last, data=run.datas[m], done=done):
            with torch.no_grad():
                if not bool(torch.isfinite(state.loss).all()):
                    for p, s in zip(params, last, strict=True):
                        p.copy_(s)
                    run.diverged_at[m], state.stop = state.step, True
                    return
                for p, s in zip(params, last, strict=True):
                    s.copy_(p)
            j = run.log_index.get(state.step)
            if j is None:
                return
            model.eval()
            run.curves["batch_loss"][m, j] = state.loss.item()
            for split in run.evaluate:
                x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
                lo, acc = evaluate(model, x, y, run.loss_fn, run.eval_batch_size)
                run.curves[f"{split}_loss"][m, j], run.curves[f"{split}_acc"][m, j] = lo, acc
            model.train()
            if run.stop_train_loss is not None and run.curves["train_loss"][m, j] <= run.stop_train_loss:
                run.stopped_at[m], state.stop = state.step, True
            if run.progress is not None:
                run.progress.update(state.step - done[0])
                done[0] = state.step

        with contextlib.suppress(DivergedError):  # the guard has frozen the member and kept the step
            fit(
                model,
                run.datas[m],
                run.loss_fn,
                opt,
                run.steps,
                run.batch_size,
                callbacks=[run.masks[m].callback(), guard],  # the mask re-applied before the guard logs
                generator=torch.Generator().manual_seed(run.order_seeds[m]),
                scheduler=warmup(opt, run.warmup_steps),
            )
        if run.diverged_at[m] is None and not all(bool(torch.isfinite(p).all()) for p in params):
            run.diverged_at[m] = run.steps
            run.blank_from(m, run.steps)
        if run.progress is not None:
            run.progress.update(run.steps - done[0])


# --- the vectorized path ---


def _stacked(models: list[nn.Module], flip: set[str]):
    """(params, buffers, trainable names): every tensor stacked over members; names in ``flip`` transposed."""
    per_model = [dict(mod.named_parameters()) for mod in models]
    params = {
        k: torch.stack([pm[k].detach().T if k in flip else pm[k].detach() for pm in per_model]).clone()
        for k in per_model[0]
    }
    per_buf = [dict(mod.named_buffers()) for mod in models]
    buffers = {k: torch.stack([pb[k] for pb in per_buf]).clone() for k in per_buf[0]}
    trainable = [k for k, p in per_model[0].items() if p.requires_grad]
    for k in trainable:
        params[k].requires_grad_(True)
    return params, buffers, trainable


def _stacked_masks(masks: list[Mask], params: dict, flip: set[str]) -> dict[str, torch.Tensor]:
    """Per masked parameter name, the members' masks stacked like the parameter (1 where a member keeps all)."""
    out = {}
    for k in sorted({k for mask in masks for k in mask}):
        ones = torch.ones(params[k].shape[1:], dtype=params[k].dtype, device=params[k].device)
        kept = [mask[k].to(ones) if k in mask else None for mask in masks]
        out[k] = torch.stack([ones if m is None else m.T if k in flip else m for m in kept])
    return out


@torch.no_grad()
def _zero_pruned(params: dict, kept: dict[str, torch.Tensor]) -> None:
    """The stacked form of :meth:`Mask.apply`: each masked parameter times its members' masks, in place."""
    for k, keep in kept.items():
        params[k].mul_(keep)


def _forward_fn(method: str, models: list[nn.Module]) -> Callable:
    """``forward(params, buffers, x, batched) -> (M, B, ...)``; ``batched``: ``x`` has a member axis, else
    every member sees the same rows."""
    if method == "bmm":
        plan = _bmm_layers(models[0])

        def forward(params, buffers, x, batched):
            h, fresh = x, False
            for op in plan:
                if op[0] == "act":  # ReLU in place on a product's output (which its backward does not keep)
                    relu = activation_name(op[1]) == "relu"
                    h, fresh = (torch.relu_(h) if relu and fresh else op[1](h)), False
                    continue
                _, name, wmult, bmult = op
                wt, b = params[f"{name}.weight"], params.get(f"{name}.bias")  # weights stored as (M, in, out)
                wt = wt if wmult == 1.0 else wt * wmult
                b = None if b is None else (b if bmult == 1.0 else b * bmult).unsqueeze(1)
                if h.ndim == 2:  # shared rows: one broadcast product for all members
                    h = torch.matmul(h, wt) if b is None else torch.matmul(h, wt) + b
                else:
                    h = torch.bmm(h, wt) if b is None else torch.baddbmm(b, h, wt)
                fresh = True
            return h

        return forward

    base = copy.deepcopy(models[0]).to("meta")

    def one(p, b, x):
        return functional_call(base, (p, b), (x,))

    mapped = {bat: vmap(one, in_dims=(0, 0, 0 if bat else None)) for bat in (True, False)}

    def forward(params, buffers, x, batched):
        return mapped[batched](params, buffers, x)

    forward.base = base
    return forward


def _written_out_forward(step: BmmStep) -> Callable:
    """``_forward_fn``'s interface over :meth:`BmmStep.forward` (no graph, no fresh allocations: evaluation)."""

    def forward(params, buffers, x, batched):
        return step.forward(x, batched)[0]

    return forward


def _member_loss(loss_fn: Callable, out: torch.Tensor, y: torch.Tensor, batched: bool) -> torch.Tensor:
    """Each member's mean loss, [M]. Cross-entropy on labels runs on the flattened batch: half the time of the
    vmapped call (0.25 vs 0.54 ms forward and backward for 16 × 100 × 10 logits)."""
    if loss_fn is F.cross_entropy and out.ndim == 3 and not y.is_floating_point():
        y = y if batched else y.expand(out.shape[0], -1)
        return F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none").view(out.shape[:2]).mean(1)
    return vmap(loss_fn, in_dims=(0, 0 if batched else None))(out, y)


@torch.no_grad()
def _evaluate(run: _Run, forward, params, buffers, x, y, batched: bool, size: int):
    """Per-member (mean loss, accuracy) on ``x, y`` in chunks of ``size`` rows, as
    :func:`~phenomena.training.evaluate`."""
    m = len(run.models)
    total, correct = torch.zeros(m, dtype=torch.float64), torch.zeros(m, dtype=torch.float64)
    n = x.shape[1 if batched else 0]
    for i in range(0, n, size):
        xs, ys = (x[:, i : i + size], y[:, i : i + size]) if batched else (x[i : i + size], y[i : i + size])
        out = forward(params, buffers, xs, batched)
        total += _member_loss(run.loss_fn, out, ys, batched).double().cpu() * ys.shape[1 if batched else 0]
        if not ys.is_floating_point():
            correct += (predictions(out) == ys).sum(-1).double().cpu()
    n = max(n, 1)
    return total / n, torch.full((m,), math.nan).double() if y.is_floating_point() else correct / n


def _train_vectorized(run: _Run, method: str) -> None:
    models, m = run.models, len(run.models)
    device = next(models[0].parameters()).device
    per = any(d is not run.datas[0] for d in run.datas)
    # the training split, and the test split only where it is evaluated (per-member test sets are stacked copies)
    fields = ("x_train", "y_train") + (("x_test", "y_test") if "test" in run.evaluate else ())
    split = {f: torch.stack([getattr(d, f) for d in run.datas]) if per else getattr(run.datas[0], f) for f in fields}
    split = {f: t.to(device) for f, t in split.items()}
    x, y = split["x_train"], split["y_train"]
    n = x.shape[1 if per else 0]
    full = run.batch_size is None or run.batch_size >= n
    # bmm keeps linear weights transposed, (M, in, out): its weight gradient bmm(hᵀ, δ) then comes out
    # contiguous, and the optimizer's element-wise updates ran 10x faster than on a transposed gradient
    plan = _bmm_layers(models[0]) if method == "bmm" else []
    flip = {f"{op[1]}.weight" for op in plan if op[0] == "linear"}
    params, buffers, trainable = _stacked(models, flip)
    written_out = None
    if BmmStep.supports(plan, params, trainable, run.loss_fn):
        # no autograd: the parameters are packed into one buffer (as the step packs its gradients), so that the
        # optimizer updates all of them with one kernel per rule
        params = dict(zip(trainable, packed_copy([params[k] for k in trainable]), strict=True))
        written_out = BmmStep(plan, params, trainable)
    leaves = [params[k] for k in trainable]
    kept = _stacked_masks(run.masks, params, flip)
    opt = FunctionalOptimizer(run.optimizer, leaves, **run.hyper)
    if run.resume is not None:
        opt.resume(run.resume, [k in flip for k in trainable])
    forward = _forward_fn(method, models) if written_out is None else _written_out_forward(written_out)
    # the written-out forward's buffers stay in cache in chunks of WRITTEN_OUT_EVAL_ROWS
    eval_rows = run.eval_batch_size if written_out is None else min(run.eval_batch_size, WRITTEN_OUT_EVAL_ROWS)
    base = getattr(forward, "base", None)
    gens = [torch.Generator().manual_seed(s) for s in run.order_seeds]
    order, cursor = None, n
    active, frozen_at = torch.ones(m, dtype=torch.bool), {}
    done = [0]

    def log(step: int, batch_loss: torch.Tensor) -> None:
        j, keep = run.log_index[step], active.clone()
        if base is not None:
            base.eval()
        run.curves["batch_loss"][keep, j] = batch_loss.double().cpu()[keep]
        for s in run.evaluate:
            lo, acc = _evaluate(run, forward, params, buffers, split[f"x_{s}"], split[f"y_{s}"], per, eval_rows)
            run.curves[f"{s}_loss"][keep, j], run.curves[f"{s}_acc"][keep, j] = lo[keep], acc[keep]
        if base is not None:
            base.train()
        if run.stop_train_loss is not None:  # members that met the rule keep this step's parameters
            newly = keep & (run.curves["train_loss"][:, j] <= run.stop_train_loss)
            for i in newly.nonzero().flatten().tolist():
                frozen_at[i] = [p[i].detach().clone() for p in leaves]
                run.stopped_at[i] = step
            active[newly] = False
        if run.progress is not None:
            run.progress.update(m * (step - done[0]))
            done[0] = step
            shown = "test_acc" if "test" in run.evaluate else "train_acc"
            post = {shown: f"{run.curves[shown][keep, j].mean().item():.3g}"} if keep.any() and run.evaluate else {}
            run.progress.set_postfix({**post, "diverged": int((~active).sum())}, refresh=False)

    if base is not None:
        base.train()
    _zero_pruned(params, kept)
    with torch.no_grad():  # fit's step-0 loss: the first batch_size rows, no generator draw
        rows = slice(None) if full else slice(0, run.batch_size)
        x0, y0 = (x[:, rows], y[:, rows]) if per else (x[rows], y[rows])
        log(0, _member_loss(run.loss_fn, forward(params, buffers, x0, per), y0, per))
    # row r of member i's own data is row i·n + r of the flattened (M·n, ...) tensors: one index_select
    # gathers every member's batch (advanced indexing with two index tensors took 3x as long)
    flat_x, flat_y = (x.flatten(0, 1), y.flatten(0, 1)) if per else (x, y)
    offsets = (torch.arange(m, device=device) * n).unsqueeze(1) if per else 0
    for step in range(1, run.steps + 1):
        if full:
            xb, yb, batched = x, y, per
        else:  # fit's sampler, per member: consecutive slices of a fresh permutation from its own generator
            if cursor + run.batch_size > n:
                order = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device) + offsets
                cursor = 0
            idx = order[:, cursor : cursor + run.batch_size].reshape(-1)
            cursor += run.batch_size
            xb = flat_x.index_select(0, idx).view(m, run.batch_size, *flat_x.shape[1:])
            yb = flat_y.index_select(0, idx).view(m, run.batch_size, *flat_y.shape[1:])
            batched = True
        if written_out is not None:
            with torch.no_grad():
                losses, grads = written_out(xb, yb, batched)
        else:
            losses = _member_loss(run.loss_fn, forward(params, buffers, xb, batched), yb, batched)
            grads = list(torch.autograd.grad(losses.sum(), leaves))
            losses = losses.detach()
        finite = torch.isfinite(losses)
        if not bool(finite.all()):  # one reduction per step in the common case
            # keep the parameters that produced the non-finite loss; the slot computes on, but members
            # share no operation, so its non-finite values cannot reach the others (tested)
            newly = active & ~finite.cpu()
            for i in newly.nonzero().flatten().tolist():
                frozen_at[i] = [p[i].detach().clone() for p in leaves]
                run.diverged_at[i] = step
            active &= ~newly
        opt.step(grads, _lr_scale(run, step))
        _zero_pruned(params, kept)
        if step in run.log_index:
            log(step, losses)
            if not bool(active.any()):  # every member stopped or diverged
                break
    if run.progress is not None:
        run.progress.update(m * (run.steps - done[0]))

    for i in range(m):
        if active[i] and not all(bool(torch.isfinite(p[i]).all()) for p in leaves):
            run.diverged_at[i] = run.steps
            run.blank_from(i, run.steps)
    with torch.no_grad():
        for i, mod in enumerate(models):
            for k, p in mod.named_parameters():
                frozen = i in frozen_at and k in trainable
                value = frozen_at[i][trainable.index(k)] if frozen else params[k][i]
                p.copy_(value.T if k in flip else value)


def _lr_scale(run: _Run, step: int) -> float:
    """The warm-up factor of step ``step`` (1-based), as ``optim.warmup``'s LambdaLR sets it."""
    return min(step / run.warmup_steps, 1.0) if run.warmup_steps > 0 else 1.0
