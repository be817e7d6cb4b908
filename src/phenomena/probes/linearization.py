"""The first-order Taylor expansion of a network in its parameters, as a trainable module.

f_lin(x; θ) = f(x; θ₀) + J(x; θ₀)(θ − θ₀)  (Lee et al. 2019, "Wide neural networks of any depth evolve as
linear models under gradient descent"; neural-tangents' ``nt.linearize``). The product J(θ − θ₀) is one
forward-mode ``torch.func.jvp``, so the Jacobian is never materialised and a call costs about three
forward passes; gradients with respect to θ flow back through the jvp.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.func import functional_call, jvp

from phenomena.errors import UserError
from phenomena.probes.core import ParamFilter, select_params


class LinearizedModel(nn.Module):
    """A network linearised around θ₀, whose own parameters θ start at θ₀ and train like any module's.

    Holds a private deep copy of the network: its parameters are θ (``self.parameters()`` yields exactly
    these, so ``torch.optim.SGD(lin.parameters(), lr)`` trains the linear model), θ₀ is kept as buffers, and
    the user's model is never touched. Parameters outside the linearised set stay at their values and are
    frozen. The copy keeps the network's train/eval mode; use eval mode for BatchNorm so that f is a
    per-example function (in training mode f(x; θ₀) uses batch statistics and updates the copy's running
    statistics).

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
        >>> lin = linearize(net)
        >>> x = torch.randn(5, 3)
        >>> torch.allclose(lin(x), net(x))
        True
    """

    def __init__(self, model: nn.Module, names: list[str], params0: Mapping[str, Tensor]):
        super().__init__()
        self.network = copy.deepcopy(model)
        self._names = list(names)
        self._theta0 = nn.Module()  # plain container: buffer names cannot hold dots
        own = dict(self.network.named_parameters())
        for i, n in enumerate(self._names):
            with torch.no_grad():
                own[n].copy_(params0[n])
            self._theta0.register_buffer(f"p{i}", own[n].detach().clone())
        for n, p in own.items():
            if n not in self._names:
                p.requires_grad_(False)

    @property
    def params0(self) -> dict[str, Tensor]:
        """θ₀, the expansion point, by parameter name (read-only tensors)."""
        return {n: getattr(self._theta0, f"p{i}") for i, n in enumerate(self._names)}

    @property
    def params(self) -> dict[str, Tensor]:
        """θ, the current (trainable) parameters of the linear model, by the network's parameter names."""
        own = dict(self.network.named_parameters())
        return {n: own[n] for n in self._names}

    def forward(self, *args, **kwargs) -> Tensor:
        theta, theta0 = self.params, self.params0
        tangent = {n: theta[n] - theta0[n] for n in self._names}

        def f(p):
            return functional_call(self.network, p, args, kwargs)

        out0, dout = jvp(f, (theta0,), (tangent,))
        return out0 + dout

    def nonlinear(self, *args, **kwargs) -> Tensor:
        """The network itself evaluated at the current θ, to measure the linearisation gap f − f_lin."""
        return self.network(*args, **kwargs)


def linearize(
    model: nn.Module, params0: Mapping[str, Tensor] | None = None, *, params: ParamFilter = None
) -> LinearizedModel:
    """Linearise ``model`` in its parameters around θ₀: f_lin(x; θ) = f(x; θ₀) + J(x; θ₀)(θ − θ₀).

    Args:
        model: any ``nn.Module``; it is copied, never modified.
        params0: the expansion point θ₀ as {name: tensor}; defaults to the model's current parameters.
            Names must be among the linearised parameters, and shapes must match.
        params: which parameters to linearise, a ``ParamFilter`` (default all trainable ones; a parameter or
            module name, a module, a predicate on names, or an iterable of names and modules; see
            ``phenomena.probes.core``); the others are frozen at their current values.

    Returns:
        A :class:`LinearizedModel`; at θ = θ₀ it equals the network, and it is exact for any θ when the
        network is linear (affine) in the linearised parameters.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
        >>> lin = linearize(net)
        >>> opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    """
    if not isinstance(model, nn.Module):
        raise UserError("linearize needs an nn.Module.")
    chosen = select_params(model, params)
    theta0 = {n: p.detach() for n, p in chosen.items()}
    if params0 is not None:
        if not isinstance(params0, Mapping):
            raise UserError("params0 must be a mapping from parameter names to tensors.")
        unknown = [n for n in params0 if n not in chosen]
        if unknown:
            raise UserError(
                f"params0 names {unknown[:5]} are not linearised parameters; valid names are {sorted(chosen)[:20]}."
            )
        for n, t in params0.items():
            if not isinstance(t, Tensor) or t.shape != chosen[n].shape:
                raise UserError(f"params0[{n!r}] must be a tensor of shape {tuple(chosen[n].shape)}.")
            theta0[n] = t.detach()
    return LinearizedModel(model, list(chosen), theta0)
