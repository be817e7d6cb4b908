"""One training step of a stack of plain MLPs with cross-entropy, written out: forward, loss and backward as
batched matrix products into buffers allocated once.

``train_ensemble``'s ``"bmm"`` method stacks M MLPs (weights stored transposed, (M, in, out)) and, without this,
asks autograd for the gradient of the members' summed losses. At the sizes the catalog trains, a step is a few
milliseconds of GEMMs, and what autograd adds around them is not small: a graph per step, a fresh allocation for
every activation, gradient and temporary (on CPU, allocations of more than a few hundred kilobytes come back from
the kernel as fresh pages, so each step also pays their page faults), and the bias and activation backward as
separate passes. Here the same math is spelled out once, for what a plain MLP needs:

- forward: ``z = beta·b + alpha·(h @ W)`` by ``baddbmm`` into the layer's buffer, then ReLU or tanh in place;
- cross-entropy per member (mean over its rows), and its gradient ``(softmax − onehot) / B``;
- backward: ``dW = alpha·hᵀ δ`` and ``db = beta·Σ_rows δ`` into the gradient buffers, ``δ ← alpha·δ Wᵀ`` times the
  activation's derivative, read from the layer's output (``threshold_backward`` / ``tanh_backward`` in place).

It matches autograd to rounding (tests compare the two, and the ensemble's float64 oracle test against solo
``fit`` runs covers this path). :meth:`BmmStep.supports` says when it applies: every layer's weight and bias
trainable, activations ReLU or tanh, the loss ``F.cross_entropy`` on integer labels; otherwise the trainer uses
autograd.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from phenomena.training.packed import packed

# A layer with at most this many outputs (and more inputs) computes its forward and weight gradient as the
# transposed products (zᵀ = Wᵀ hᵀ, dWᵀ = δᵀ h): MKL's batched GEMM with 10 output columns ran at ~28 GFLOP/s on
# 16 × (100 × 256 · 256 × 10) products against ~150 for the transposed shapes (2 threads, benchmarks/ensemble.py).
SKINNY = 32


@dataclasses.dataclass(frozen=True)
class _Layer:
    weight: str
    bias: str | None
    weight_mult: float
    bias_mult: float
    activation: str | None  # "relu", "tanh", or None after the last layer
    narrow: bool  # few outputs: its products run transposed (see SKINNY)


class BmmStep:
    """``step(x, y, batched) -> (losses [M], grads)`` for the stacked parameters ``params`` of a plain MLP.

    ``plan`` is ``train_ensemble``'s layer plan of the model (linear and activation ops in order); ``trainable``
    the parameter names in the order the gradients are returned. ``x`` is (M, B, in) with ``batched``, else
    (B, in) shared by every member; ``y`` likewise (M, B) or (B,). The returned gradients are this object's
    buffers: they are overwritten by the next call.
    """

    def __init__(self, plan: list[tuple], params: dict[str, torch.Tensor], trainable: list[str]):
        self.params, self.trainable = params, trainable
        self.layers = _layers(plan, params)
        self._buffers: dict[tuple, dict] = {}

    @staticmethod
    def supports(plan: list[tuple] | None, params: dict[str, torch.Tensor], trainable: list[str], loss_fn) -> bool:
        """Whether the written-out step applies: a plan of linear layers with ReLU or tanh between them, every
        parameter trainable, cross-entropy on labels."""
        if not plan or loss_fn is not F.cross_entropy or plan[-1][0] != "linear":
            return False
        layers = _layers(plan, params)
        if layers is None:
            return False
        names = {n for layer in layers for n in (layer.weight, layer.bias) if n is not None}
        return names == set(params) == set(trainable)

    def forward(self, x: torch.Tensor, batched: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The logits (M, B, classes), and each layer's input; both are buffers, overwritten by the next call."""
        p = self.params
        m = p[self.layers[0].weight].shape[0]
        buf = self._buffers_for(x.shape[1] if batched else x.shape[0], p[self.layers[0].weight].dtype)
        h = x if batched else x.expand(m, *x.shape)
        inputs = []
        for layer, z in zip(self.layers, buf["z"], strict=True):
            inputs.append(h)
            w, b = p[layer.weight], p[layer.bias] if layer.bias else None
            if layer.narrow:  # zᵀ = b + Wᵀ hᵀ into an (M, out, B) buffer; z is its transposed view
                bias, beta = (b.unsqueeze(2), layer.bias_mult) if b is not None else (z, 0.0)
                wt, ht = w.transpose(1, 2), h.transpose(1, 2)
                torch.baddbmm(bias, wt, ht, beta=beta, alpha=layer.weight_mult, out=z)
                z = z.transpose(1, 2)
            elif b is None:
                torch.baddbmm(z, h, w, beta=0.0, alpha=layer.weight_mult, out=z)
            else:
                torch.baddbmm(b.unsqueeze(1), h, w, beta=layer.bias_mult, alpha=layer.weight_mult, out=z)
            if layer.activation == "relu":
                z.relu_()
            elif layer.activation == "tanh":
                z.tanh_()
            h = z
        return h, inputs

    def __call__(self, x: torch.Tensor, y: torch.Tensor, batched: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h, inputs = self.forward(x, batched)
        m, rows = h.shape[0], h.shape[1]
        buf = self._buffers_for(rows, h.dtype)
        p = self.params
        labels = (y if batched else y.expand(m, -1)).unsqueeze(1)
        # the loss over classes on the (M, classes, B) layout: the narrow last layer writes it (h is its transposed
        # view), and log_softmax over a middle dimension vectorizes over the rows, where over a last dimension of
        # ~10 classes it cannot fill a vector register
        scores = h.transpose(1, 2)
        log_p = torch.log_softmax(scores if scores.is_contiguous() else scores.contiguous(), 1)
        losses = -log_p.gather(1, labels).squeeze(1).mean(1)
        delta_t = log_p.exp_()  # d(mean cross-entropy)/d logits = (softmax - onehot) / B, as (M, classes, B)
        delta_t.scatter_add_(1, labels, buf["minus_one"])
        delta_t.div_(rows)
        delta = delta_t.transpose(1, 2)
        grads = buf["grads"]
        for i in reversed(range(len(self.layers))):
            layer = self.layers[i]
            if layer.narrow:  # dWᵀ = δᵀ h, then into the gradient's (M, in, out) layout
                flipped = buf["flipped"][layer.weight]
                torch.baddbmm(flipped, delta.transpose(1, 2), inputs[i], beta=0.0, alpha=layer.weight_mult, out=flipped)
                grads[layer.weight].copy_(flipped.transpose(1, 2))
            else:
                torch.baddbmm(
                    grads[layer.weight],
                    inputs[i].transpose(1, 2),
                    delta,
                    beta=0.0,
                    alpha=layer.weight_mult,
                    out=grads[layer.weight],
                )
            if layer.bias is not None:
                torch.sum(delta, 1, out=grads[layer.bias])
                if layer.bias_mult != 1.0:
                    grads[layer.bias].mul_(layer.bias_mult)
            if i == 0:
                break
            below, out = self.layers[i - 1], buf["delta"][i - 1]
            w = p[layer.weight]
            torch.baddbmm(out, delta, w.transpose(1, 2), beta=0.0, alpha=layer.weight_mult, out=out)
            act = inputs[i]
            if below.narrow:  # its output is a transposed view; an element-wise op mixing that layout with the
                # delta's runs a strided loop that costs more than this copy and a contiguous op together
                act = buf["act"][i - 1].copy_(act)
            if below.activation == "relu":  # the derivative from ReLU's output: 1 where it is positive
                torch.ops.aten.threshold_backward.grad_input(out, act, 0.0, grad_input=out)
            elif below.activation == "tanh":  # 1 - tanh²
                torch.ops.aten.tanh_backward.grad_input(out, act, grad_input=out)
            delta = out
        return losses, [grads[n] for n in self.trainable]

    def _buffers_for(self, rows: int, dtype: torch.dtype) -> dict:
        key = (rows, dtype)
        if key not in self._buffers:
            p = self.params
            m = p[self.layers[0].weight].shape[0]
            device = p[self.layers[0].weight].device

            def empty(*shape):
                return torch.empty(*shape, dtype=dtype, device=device)

            widths = [p[layer.weight].shape[2] for layer in self.layers]
            self._buffers[key] = {
                "z": [
                    empty(m, w, rows) if la.narrow else empty(m, rows, w)
                    for la, w in zip(self.layers, widths, strict=True)
                ],
                "flipped": {
                    la.weight: empty(m, w, p[la.weight].shape[1])
                    for la, w in zip(self.layers, widths, strict=True)
                    if la.narrow
                },
                "delta": [empty(m, rows, w) for w in widths[:-1]],
                # a narrow layer's activation in the deltas' (M, rows, out) layout, for its derivative
                "act": {
                    i: empty(m, rows, w)
                    for i, (la, w) in enumerate(zip(self.layers[:-1], widths[:-1], strict=True))
                    if la.narrow
                },
                # packed in the order they are returned: the optimizer can update them as one buffer
                "grads": dict(zip(self.trainable, packed([p[n] for n in self.trainable]), strict=True)),
                "minus_one": torch.full((m, 1, rows), -1.0, dtype=dtype, device=device),
            }
        return self._buffers[key]


def _layers(plan: list[tuple], params: dict[str, torch.Tensor]) -> list[_Layer] | None:
    """The plan as layers, each with the activation that follows it (and its bias, if ``params`` has one); None if
    an activation is not ReLU or tanh or two linear layers are not separated by exactly one activation."""
    layers: list[_Layer] = []
    pending: tuple | None = None
    for op in plan:
        if op[0] == "linear":
            if pending is not None:
                return None
            pending = op
            continue
        if pending is None:
            return None
        act = activation_name(op[1])
        if act is None:
            return None
        layers.append(_layer(pending, params, act))
        pending = None
    if pending is None:
        return None
    layers.append(_layer(pending, params, None))
    return layers


def _layer(op: tuple, params: dict[str, torch.Tensor], activation: str | None) -> _Layer:
    _, name, wmult, bmult = op
    bias = f"{name}.bias" if f"{name}.bias" in params else None
    fan_in, fan_out = params[f"{name}.weight"].shape[1:]
    narrow = fan_out <= SKINNY < fan_in
    return _Layer(f"{name}.weight", bias, float(wmult), float(bmult), activation, narrow)


def activation_name(fn: Callable | nn.Module) -> str | None:
    """ "relu" or "tanh" for those element-wise activations (function or module), else None."""
    if fn is torch.relu or fn is F.relu or isinstance(fn, nn.ReLU):
        return "relu"
    if fn is torch.tanh or fn is F.tanh or isinstance(fn, nn.Tanh):
        return "tanh"
    return None
