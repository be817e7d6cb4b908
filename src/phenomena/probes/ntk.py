"""Empirical kernels of any ``nn.Module``: the eNTK, the empirical NNGP, and ways to compare kernels.

The empirical neural tangent kernel (Jacot et al. 2018) of a network f(x; θ) with K outputs is
Θ(x, x')_{ij} = Σ_p ∂f_i(x)/∂θ_p · ∂f_j(x')/∂θ_p. Three exact algorithms compute it (Novak et al. 2022,
"Fast finite width neural tangent kernel", the implementations of neural-tangents' ``empirical_ntk_fn``):

- ``"jacobian"``: per-example Jacobians by ``vmap(jacrev)``, contracted over parameters.
  Cost ≈ (N1+N2)·K·[FP] + N1·N2·K²·P (K·P with ``trace=True``).
- ``"ntvp"``: NTK-vector products: a vjp through each example of x1 for every output basis vector, then a
  jvp of that parameter vector through the x2 batch. It never forms J(x2) and never contracts over P; it
  holds the B1·K vjps of the current x1 block. Cost ≈ N1·N2·K·[FP] (no saving from ``trace=True``); it
  beats ``"jacobian"`` on the full kernel when the forward pass is cheap relative to K·P (fully
  connected nets, many outputs) and loses on weight-shared nets (convolutions) and traced kernels.
- ``"structured"``: the structured-derivatives idea for ``nn.Linear`` layers: the Jacobian of a Linear
  weight is δ ⊗ h (output cotangent times layer input), so its kernel block is ⟨δ, δ'⟩·⟨h, h'⟩ and costs
  N1·N2·(K²·out + in) instead of N1·N2·K²·out·in. Other parameters use Jacobian contraction. Each Linear
  must be called once per forward on a (batch, in_features) input and own its weight; this is checked, and
  δ ⊗ h is compared with an exact vector-Jacobian product on two examples; a layer that fails falls back to
  Jacobian contraction (so the result is exact either way; only the speed changes).
- ``"auto"`` estimates each method's FLOPs with the formulas above (the forward cost [FP] measured with
  ``torch.utils.flop_counter`` on one example) and runs the cheapest.

Parameters are ``model.named_parameters()`` with ``requires_grad=True`` (or the ``params`` subset, selected as
everywhere by ``phenomena.probes.core.select_params``); the model is evaluated through the core's
``FunctionalModel`` snapshot (``torch.func.functional_call`` with its buffers) and is never mutated
(``"structured"`` and ``empirical_nngp`` register forward hooks for one call and remove them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.func import jacrev, jvp, vjp, vmap
from torch.utils.flop_counter import FlopCounterMode

from phenomena.errors import UserError
from phenomena.probes.core import (
    FunctionalModel,
    ParamFilter,
    check_deterministic,
    select_param_names,
    select_params,
)

_METHODS = ("auto", "jacobian", "ntvp", "structured")


def _check_x(x: Tensor, name: str, ref: Tensor | None = None) -> None:
    if not isinstance(x, Tensor) or x.ndim < 1 or x.shape[0] == 0:
        raise UserError(f"{name} must be a tensor of inputs with a non-empty leading batch dimension.")
    if ref is not None and x.shape[1:] != ref.shape[1:]:
        raise UserError(f"{name} has per-example shape {tuple(x.shape[1:])} but x1 has {tuple(ref.shape[1:])}.")


def _pname(layer: str, leaf: str) -> str:
    return f"{layer}.{leaf}" if layer else leaf


def _blocks(n: int, size: int) -> list[slice]:
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


# --- per-method block computations -------------------------------------------------------------------


def _jacobians(fn: FunctionalModel, theta: dict[str, Tensor], x: Tensor) -> dict[str, Tensor]:
    """Per-example Jacobians, name -> (B, K, numel)."""
    jac = vmap(jacrev(fn.example_output), in_dims=(None, 0))(theta, x)
    return {n: j.reshape(j.shape[0], j.shape[1], -1) for n, j in jac.items()}


def _contract(j1: dict[str, Tensor], j2: dict[str, Tensor], trace: bool) -> Tensor:
    """Σ_p J1 J2ᵀ as (B1, B2) if trace else (B1, B2, K, K)."""
    acc = None
    for n, a in j1.items():
        b = j2[n]
        if trace:  # Σ_i Σ_p J1[a,i,p] J2[b,i,p]: one matmul over the flattened (logit, parameter) axis
            a2, b2 = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
        else:
            a2, b2 = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
        acc = a2 @ b2.T if acc is None else acc.addmm_(a2, b2.T)
    if trace:
        return acc
    b1, k = next(iter(j1.values())).shape[:2]
    return acc.reshape(b1, k, -1, k).permute(0, 2, 1, 3)


def _ntvp_block(fn: FunctionalModel, theta: dict[str, Tensor], x1: Tensor, x2: Tensor, k: int, trace: bool) -> Tensor:
    basis = torch.eye(k, dtype=next(iter(theta.values())).dtype, device=x1.device)

    def row(xa: Tensor) -> Tensor:
        _, pullback = vjp(lambda p: fn.example_output(p, xa), theta)

        def col(e: Tensor) -> Tensor:
            (v,) = pullback(e)  # v = J(xa)ᵀ e, one parameter-space vector
            return jvp(lambda p: fn.batch_outputs(p, x2), (theta,), (v,))[1]  # J(x2) v: (B2, K)

        return vmap(col)(basis)  # (K_i, B2, K_j)

    kern = vmap(row)(x1).permute(0, 2, 1, 3)
    return kern.diagonal(dim1=2, dim2=3).sum(-1) if trace else kern


class _Structured:
    """Kernel blocks from layer inputs h and output cotangents δ of the eligible ``nn.Linear`` layers."""

    def __init__(self, model: nn.Module, fn: FunctionalModel, chosen: dict[str, Tensor]):
        self.fn, self.model = fn, model
        counts: dict[int, int] = {}
        for _, p in model.named_parameters(remove_duplicate=False):
            counts[id(p)] = counts.get(id(p), 0) + 1
        chosen_ids = {id(p) for p in chosen.values()}
        self.layers = {
            name: m
            for name, m in model.named_modules()
            if isinstance(m, nn.Linear)
            and type(m).forward is nn.Linear.forward
            and id(m.weight) in chosen_ids
            and counts[id(m.weight)] == 1
        }
        self.chosen = chosen
        self._finalize()

    def _finalize(self) -> None:
        ids = {id(p): n for n, p in self.chosen.items()}
        self.with_bias = {ln for ln, m in self.layers.items() if m.bias is not None and id(m.bias) in ids}
        taken = {ids[id(m.weight)] for m in self.layers.values()}
        taken |= {ids[id(self.layers[ln].bias)] for ln in self.with_bias}
        self.rest = {n: p.detach() for n, p in self.chosen.items() if n not in taken}

    def inputs(self, x: Tensor) -> dict[str, Tensor] | None:
        """Inputs h (B, in) of every layer, or None for a layer not called exactly once on (B, in)."""
        seen: dict[str, list[Tensor]] = {ln: [] for ln in self.layers}
        handles = [
            m.register_forward_hook(lambda _m, inp, _out, ln=ln: seen[ln].append(inp[0].detach()))
            for ln, m in self.layers.items()
        ]
        try:
            self.fn.batch_outputs({n: p.detach() for n, p in self.chosen.items()}, x)
        finally:
            for h in handles:
                h.remove()
        return {
            ln: (v[0] if len(v) == 1 and v[0].shape == (x.shape[0], self.layers[ln].in_features) else None)
            for ln, v in seen.items()
        }

    def probes(self) -> dict[str, Tensor]:
        # ∂f/∂bias is the output cotangent δ; a layer without a bias gets a zero one to differentiate.
        out = {}
        for ln, m in self.layers.items():
            b = (
                m.bias
                if m.bias is not None
                else torch.zeros(m.out_features, dtype=m.weight.dtype, device=m.weight.device)
            )
            out[_pname(ln, "bias")] = b.detach()
        return out

    def drop(self, bad: Iterable[str]) -> None:
        for ln in set(bad):
            self.layers.pop(ln, None)
        self._finalize()

    def verify(self, x: Tensor) -> None:
        """Drop layers whose structure fails on example x (1, ...): uᵀJ_W must equal (uᵀδ) ⊗ h.

        One vjp with a fixed random cotangent u checks every layer at once (memory P, not K·P); it
        catches weights also used outside their module's forward and re-used modules.
        """
        h = self.inputs(x)
        self.drop([ln for ln, v in h.items() if v is None])
        if not self.layers:
            return
        names = {ln: _pname(ln, "weight") for ln in self.layers}
        p = {names[ln]: m.weight.detach() for ln, m in self.layers.items()} | self.probes()
        out, pullback = vjp(lambda q: self.fn.example_output(q, x[0]), p)
        u = torch.randn(out.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        (g,) = pullback(u.to(device=out.device, dtype=out.dtype))
        eps = torch.finfo(out.dtype).eps
        bad = []
        for ln in self.layers:
            exact, approx = g[names[ln]], torch.outer(g[_pname(ln, "bias")], h[ln][0])
            scale = max(exact.abs().max().item(), approx.abs().max().item(), 1e-30)
            if (exact - approx).abs().max().item() > 1e3 * eps * scale:
                bad.append(ln)
        self.drop(bad)

    def prepare(self, x: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]]:
        h = self.inputs(x)
        if any(v is None for v in h.values()):
            raise RuntimeError("a Linear layer changed how it is called between batches.")
        p = self.probes() | self.rest
        jac = vmap(jacrev(self.fn.example_output), in_dims=(None, 0))(p, x)
        delta = {ln: jac[_pname(ln, "bias")] for ln in self.layers}
        rest = {n: jac[n].reshape(x.shape[0], jac[n].shape[1], -1) for n in self.rest}
        return h, delta, rest

    def block(self, f1, f2, trace: bool) -> Tensor:
        (h1, d1, r1), (h2, d2, r2) = f1, f2
        acc = _contract(r1, r2, trace) if self.rest else None
        for ln in self.layers:
            coef = h1[ln] @ h2[ln].T + (1.0 if ln in self.with_bias else 0.0)  # weight ⟨h,h'⟩, bias 1
            a, b = d1[ln], d2[ln]
            if trace:
                k = (a.reshape(a.shape[0], -1) @ b.reshape(b.shape[0], -1).T) * coef
            else:
                g = a.reshape(-1, a.shape[-1]) @ b.reshape(-1, b.shape[-1]).T
                k = g.reshape(a.shape[0], a.shape[1], b.shape[0], b.shape[1]).permute(0, 2, 1, 3)
                k = k * coef[:, :, None, None]
            acc = k if acc is None else acc + k
        return acc


def _costs(fn, theta, structured, x1, n2, nb1, k, trace) -> dict[str, float]:
    """FLOP estimates per method (Novak et al. 2022 cost model; see the module docstring)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn.batch_outputs(theta, x1[:1])
    n_all = sum(p.numel() for p in fn.model.parameters())
    fp = max(float(counter.get_total_flops()), 2.0 * n_all)
    n1, kf = len(x1), (k if trace else k * k)
    p_sel = sum(t.numel() for t in theta.values())
    build = (n1 + nb1 * n2) * (fp + 2 * k * fp)
    costs = {
        "jacobian": build + 2.0 * n1 * n2 * p_sel * kf,
        "ntvp": n1 * (fp + 2 * k * fp) + 2.0 * n1 * k * n2 * fp + nb1 * n2 * fp,
    }
    if structured is not None and structured.layers:
        p_rest = sum(t.numel() for t in structured.rest.values())
        per_pair = p_rest * kf + sum(m.out_features * kf + m.in_features for m in structured.layers.values())
        costs["structured"] = build + 2.0 * n1 * n2 * per_pair
    return costs


def empirical_ntk(
    model: nn.Module,
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    method: str = "auto",
    trace: bool = False,
    batch_size: int | None = None,
    params: ParamFilter = None,
) -> Tensor:
    """Empirical neural tangent kernel Θ(x, x') = J(x) J(x')ᵀ of any model, over its parameters.

    Args:
        model: an ``nn.Module`` mapping (N, ...) inputs to (N, ...) outputs; outputs are flattened per
            example into K = prod(output.shape[1:]) logits (K = 1 for (N,) outputs). BatchNorm and dropout
            must be in eval mode.
        x1, x2: inputs (N1, ...) and (N2, ...); ``x2=None`` means x2 = x1 (symmetry is then exploited).
        method: ``"jacobian"``, ``"ntvp"``, ``"structured"`` or ``"auto"`` (see the module docstring;
            all are exact and agree to rounding; ``"structured"`` treats the Linear layers it can verify
            and contracts Jacobians for every other parameter).
        trace: if True return Σ_i Θ_ii, the SUM over logits (N1, N2). neural-tangents' ``trace_axes``
            returns the MEAN (Tr/K): divide by K to compare with it.
        batch_size: examples per block of x1 and x2 (bounds memory at about batch_size·K·P numbers);
            ``None`` computes everything in one block. Results do not depend on it; the x2 side of each
            block is recomputed for every x1 block, so small blocks trade time for memory.
        params: the parameters θ to differentiate, a ``ParamFilter`` (None for all trainable ones, a
            parameter or module name, a module, a predicate on names, or an iterable of names and modules;
            see ``phenomena.probes.core``); the others stay fixed.

    Returns:
        (N1, N2, K, K) tensor Θ[a, b, i, j] = ⟨∂f_i(x1_a)/∂θ, ∂f_j(x2_b)/∂θ⟩, or (N1, N2) if ``trace``.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 3))
        >>> empirical_ntk(net, torch.randn(8, 4)).shape
        torch.Size([8, 8, 3, 3])
    """
    if method not in _METHODS:
        raise UserError(f"unknown eNTK method {method!r}; choose one of {', '.join(_METHODS)}.")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise UserError(f"batch_size must be a positive integer or None, got {batch_size!r}.")
    _check_x(x1, "x1")
    if x2 is not None:
        _check_x(x2, "x2", x1)
    check_deterministic(model, "empirical_ntk", per_example=True)
    chosen = select_params(model, params)
    fn = FunctionalModel(model, list(chosen))
    theta, dtype = fn.theta, fn.dtype
    for x in (x1,) if x2 is None else (x1, x2):
        if x.is_floating_point() and x.dtype != dtype:
            raise UserError(f"inputs have dtype {x.dtype} but the model's parameters have {dtype}; cast one.")
    same = x2 is None
    xb = x1 if same else x2
    n1, n2 = len(x1), len(xb)
    size = batch_size or max(n1, n2)
    blocks1, blocks2 = _blocks(n1, size), _blocks(n2, size)
    with torch.no_grad():
        k = fn.batch_outputs(theta, x1[:1]).shape[1]
        structured = None
        if method in ("structured", "auto"):
            structured = _Structured(model, fn, chosen)
            if structured.layers:
                for x in (x1,) if same else (x1, xb):
                    for blk in _blocks(len(x), size):
                        structured.drop([ln for ln, v in structured.inputs(x[blk]).items() if v is None])
                structured.verify(x1[:1])
                structured.verify(xb[-1:])
        if method == "auto":
            costs = _costs(fn, theta, structured, x1, n2, len(blocks1), k, trace)
            method = min(costs, key=costs.get)
        if method == "jacobian" or (method == "structured" and not structured.layers):
            prep, block = (lambda x: _jacobians(fn, theta, x)), (lambda f1, f2: _contract(f1, f2, trace))
        elif method == "structured":
            prep, block = structured.prepare, (lambda f1, f2: structured.block(f1, f2, trace))
        else:
            prep, block = (lambda x: x), (lambda a, b: _ntvp_block(fn, theta, a, b, k, trace))

        out = torch.empty((n1, n2) if trace else (n1, n2, k, k), dtype=dtype, device=x1.device)
        for i, b1 in enumerate(blocks1):
            f1 = prep(x1[b1])
            for j, b2 in enumerate(blocks2):
                if same and j < i:
                    continue
                kb = block(f1, f1 if same and i == j else prep(xb[b2]))
                out[b1, b2] = kb
                if same and j > i:  # Θ(x', x)_{ij} = Θ(x, x')_{ji}
                    out[b2, b1] = kb.transpose(0, 1) if trace else kb.permute(1, 0, 3, 2)
    return out


# --- empirical NNGP ----------------------------------------------------------------------------------


def _layer_input(model: nn.Module, layer: str | nn.Module | None, x: Tensor) -> Tensor:
    if layer is None:
        targets = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
        if not targets:
            raise UserError("the model has no nn.Linear layer; pass `layer` (a module name) or a features function.")
    else:
        if isinstance(layer, str):
            try:
                target = model.get_submodule(layer)
            except AttributeError:
                raise UserError(f"model has no submodule named {layer!r}.") from None
        elif isinstance(layer, nn.Module) and any(m is layer for m in model.modules()):
            target = layer
        else:
            raise UserError("`layer` must be a submodule of the model or its name.")
        targets = {"layer": target}
    calls: list[tuple[str, Tensor]] = []
    handles = [
        m.register_forward_hook(lambda _m, inp, _o, n=n: calls.append((n, inp[0].detach()))) for n, m in targets.items()
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if not calls:
        raise UserError("the feature layer was not called during the forward pass.")
    name, feats = calls[-1]  # the last Linear called is the readout, whatever the registration order
    if sum(n == name for n, _ in calls) != 1 or feats.shape[0] != x.shape[0]:
        raise UserError("the feature layer must be called once per forward on a (batch, ...) input.")
    return feats


def empirical_nngp(
    model: nn.Module | Callable[[Tensor], Tensor],
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    layer: str | nn.Module | None = None,
) -> Tensor:
    """Empirical NNGP kernel: the Gram matrix of last-layer features, normalised by their dimension.

    K(x, x') = ⟨φ(x), φ(x')⟩ / D. With an ``nn.Module``, φ(x) is the input to the readout layer, captured
    by a temporary forward hook: by default the last ``nn.Linear`` called in the forward pass, or ``layer``
    (a submodule or its name). Any other callable is used as the feature map φ itself. For a readout with
    weights N(0, σ_w²/D) this is the output covariance over the readout's weights, up to the σ_w² factor
    and the bias variance (the neural-tangents NNGP convention without σ_w², σ_b).

    Args:
        model: an ``nn.Module`` (eval mode for BatchNorm/dropout) or a features function x -> (N, ...).
        x1, x2: inputs; ``x2=None`` means x1.
        layer: the readout layer whose input is φ (only with a module).

    Returns:
        (N1, N2) tensor.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 3))
        >>> empirical_nngp(net, torch.randn(5, 4)).shape
        torch.Size([5, 5])
    """
    _check_x(x1, "x1")
    if x2 is not None:
        _check_x(x2, "x2", x1)
    if isinstance(model, nn.Module):
        check_deterministic(model, "empirical_nngp", per_example=True)

        def features(x):
            return _layer_input(model, layer, x)
    elif callable(model):
        if layer is not None:
            raise UserError("`layer` only applies when `model` is an nn.Module, not a features function.")
        features = model
    else:
        raise UserError("empirical_nngp needs an nn.Module or a features function.")
    with torch.no_grad():
        phi1 = features(x1).reshape(len(x1), -1)
        phi2 = phi1 if x2 is None else features(x2).reshape(len(x2), -1)
    return phi1 @ phi2.T / phi1.shape[1]


# --- comparing kernels -------------------------------------------------------------------------------


def _center(t: Tensor, axes: tuple[int, int]) -> Tensor:
    a, b = axes
    return t - t.mean(a, keepdim=True) - t.mean(b, keepdim=True) + t.mean((a, b), keepdim=True)


def kernel_alignment(K: Tensor, y: Tensor, *, centered: bool = True) -> float:
    """Kernel-target alignment A(K, yyᵀ) = ⟨K, L⟩_F / (‖K‖_F ‖L‖_F) with L = Y Yᵀ.

    ``centered=True`` (default) uses the centred alignment of Cortes, Mohri & Rostamizadeh (2012): both K
    and L are centred over examples, Kc = HKH with H = I − 11ᵀ/N, which removes the constant offset that
    makes uncentred alignment (Cristianini et al. 2002) high for any positive kernel.

    Args:
        K: (N, N) kernel, or a per-logit (N, N, C, C) kernel compared with vec(Y)vec(Y)ᵀ (centred over
            examples for each pair of logits).
        y: integer class labels (N,) (one-hot encoded, C = max label + 1) or float targets (N,) / (N, C).
        centered: centred (Cortes et al. 2012) or uncentred (Cristianini et al. 2002) alignment.

    Returns:
        The alignment, in [-1, 1] (in [0, 1] for PSD K).

    Example:
        >>> y = torch.tensor([0, 0, 1, 1])
        >>> Y = torch.nn.functional.one_hot(y).double()
        >>> kernel_alignment(Y @ Y.T, y)
        1.0
    """
    if not isinstance(K, Tensor) or K.ndim not in (2, 4) or K.shape[0] != K.shape[1]:
        raise UserError("K must be an (N, N) or (N, N, C, C) kernel tensor.")
    n = K.shape[0]
    if not isinstance(y, Tensor) or y.ndim not in (1, 2) or y.shape[0] != n:
        raise UserError(
            f"y must be (N,) labels or (N, C) targets with N = {n}, got shape {tuple(getattr(y, 'shape', ()))}."
        )
    if not y.is_floating_point():
        if y.ndim != 1 or (y < 0).any():
            raise UserError("integer labels must be a 1-D tensor of non-negative class indices.")
        y = nn.functional.one_hot(y.long())
    K, Y = K.double(), y.double().reshape(n, -1)  # float64: the result is a ratio of large sums
    if K.ndim == 2:
        Kt, L, axes = K, Y @ Y.T, (0, 1)
    else:
        if K.shape[2] != Y.shape[1] or K.shape[3] != Y.shape[1]:
            raise UserError(
                f"a per-logit kernel with C = {K.shape[2]} needs targets with {K.shape[2]} columns, got {Y.shape[1]}."
            )
        Kt, L, axes = K.permute(0, 2, 1, 3), torch.einsum("ai,bj->aibj", Y, Y), (0, 2)
    if centered:
        Kt, L = _center(Kt, axes), _center(L, axes)
    nk, nl = torch.linalg.norm(Kt.reshape(-1)), torch.linalg.norm(L.reshape(-1))
    if nk == 0 or nl == 0:
        raise UserError(
            "alignment is undefined: the (centred) kernel or target kernel is zero, e.g. all labels are equal."
        )
    return float((Kt * L).sum() / (nk * nl))


def _check_pair(K0: Tensor, K1: Tensor) -> None:
    if not isinstance(K0, Tensor) or not isinstance(K1, Tensor) or K0.shape != K1.shape:
        raise UserError("the two kernels must be tensors of the same shape.")
    if torch.linalg.norm(K0.reshape(-1)) == 0:
        raise UserError("the reference kernel K0 is zero.")


def kernel_distance(K0: Tensor, K1: Tensor) -> float:
    """Kernel distance S = 1 − ⟨K0, K1⟩_F / (‖K0‖_F ‖K1‖_F) (Fort et al. 2020, "Deep learning versus
    kernel learning"). 0 for kernels equal up to a positive scale; scale-invariant; in [0, 2].

    Example:
        >>> K = torch.eye(3)
        >>> round(kernel_distance(K, 5 * K), 12)
        0.0
    """
    _check_pair(K0, K1)
    if torch.linalg.norm(K1.reshape(-1)) == 0:
        raise UserError("the kernel K1 is zero.")
    a, b = K0.reshape(-1).double(), K1.reshape(-1).double()  # float64: S is a small difference of O(1)s
    cos = (a @ b) / (torch.linalg.norm(a) * torch.linalg.norm(b))
    return float(1.0 - cos.clamp(-1.0, 1.0))


def kernel_relative_change(K0: Tensor, K1: Tensor) -> float:
    """Relative kernel change ‖K1 − K0‖_F / ‖K0‖_F (Lee et al. 2019, the lazy-training measure).

    Example:
        >>> kernel_relative_change(torch.eye(2), 2 * torch.eye(2))
        1.0
    """
    _check_pair(K0, K1)
    a, b = K0.reshape(-1).double(), K1.reshape(-1).double()
    return float(torch.linalg.norm(b - a) / torch.linalg.norm(a))


def kernel_velocity(
    model0: nn.Module,
    model1: nn.Module,
    x: Tensor,
    *,
    dt: float = 1.0,
    trace: bool = True,
    method: str = "auto",
    batch_size: int | None = None,
    params: ParamFilter = None,
) -> dict[str, float]:
    """Kernel velocity between two checkpoints: the eNTK of each on ``x``, then how far the kernel moved.

    Following Fort et al. (2020), v = S(K_t, K_{t+dt}) / dt with S the :func:`kernel_distance`; the
    logit-summed kernel (``trace=True``) is the default, as in their plots.

    Args:
        model0, model1: the network at two times (same architecture).
        x: inputs (N, ...) on which both kernels are computed.
        dt: time between the checkpoints (steps or epochs), > 0.
        trace, method, batch_size, params: passed to :func:`empirical_ntk` (``params`` is resolved to parameter
            names on ``model0``, so a module of ``model0`` selects the same parameters of ``model1``).

    Returns:
        ``{"distance": S, "relative_change": ‖K1 − K0‖/‖K0‖, "velocity": S / dt}``.

    Example:
        >>> a, b = nn.Linear(3, 2), nn.Linear(3, 2)
        >>> kernel_velocity(a, b, torch.randn(4, 3), dt=10)["velocity"] >= 0
        True
    """
    if not (isinstance(dt, (int, float)) and dt > 0 and math.isfinite(dt)):
        raise UserError(f"dt must be a positive finite number, got {dt!r}.")
    # resolved on model0, so that module objects (or a predicate) select the same names in both checkpoints
    names = select_param_names(model0, params)
    kw = {"trace": trace, "method": method, "batch_size": batch_size, "params": names}
    k0, k1 = empirical_ntk(model0, x, **kw), empirical_ntk(model1, x, **kw)
    s = kernel_distance(k0, k1)
    return {"distance": s, "relative_change": kernel_relative_change(k0, k1), "velocity": s / dt}
