"""Sharpness-Aware Minimization (Foret, Kleiner, Mobahi & Neyshabur, ICLR 2021) as an optimizer wrapper.

SAM minimizes ``max_{||e|| <= rho} L(w + e)`` with one ascent step to first order: at each step it takes the
minibatch gradient ``g`` at ``w``, moves to ``w + e`` with ``e = rho * g / ||g||`` (the L2 norm over *all*
parameters, as in the paper's Eq. 2 and the reference ``davda54/sam`` code), takes the gradient ``g'`` of the
*same* minibatch there, returns to ``w`` exactly, and lets the base optimizer step from ``w`` with ``g'``.
Weight decay, momentum and learning-rate schedules therefore behave as in the base optimizer.

The wrapper speaks the ordinary ``torch.optim`` protocol: ``step(closure)`` where ``closure`` zeroes the
gradients, recomputes the loss on the current minibatch, calls ``backward`` and returns the loss (the closure
that ``torch.optim.LBFGS`` also takes). SAM calls it twice per step (at ``w`` and at ``w + e``), so one SAM
step costs two forward-backward passes. ``phenomena.training.fit`` hands such a closure to every optimizer, so
``fit(model, data, loss_fn, SAM(base, rho), steps)`` trains with SAM like with any other optimizer. Like the
package's SGD and Adam (:mod:`phenomena.training.optim`), it is for eager training: it does without the compile
guards whose first use imports ``torch._dynamo``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from phenomena.errors import UserError
from phenomena.training.optim import without_compile_guards


@without_compile_guards
class SAM(torch.optim.Optimizer):
    """Sharpness-Aware Minimization around any base optimizer (Foret et al. 2021, Algorithm 1).

    Args:
        base: the optimizer that takes the actual step (e.g. ``torch.optim.SGD(model.parameters(), lr=0.1)``);
            SAM shares its parameter groups, so learning-rate schedulers built on either act on both.
        rho: radius of the ascent step (the paper's default 0.05); ``rho=0`` reproduces ``base`` exactly.

    Example:
        >>> opt = SAM(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), rho=0.05)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = F.cross_entropy(model(x), y)
        ...     loss.backward()
        ...     return loss
        >>> loss = opt.step(closure)       # the loss at w, before the step
    """

    def __init__(self, base: torch.optim.Optimizer, rho: float = 0.05):
        if not isinstance(base, torch.optim.Optimizer):
            raise UserError(f"SAM wraps a torch.optim.Optimizer instance; got {type(base).__name__}")
        if not (isinstance(rho, int | float) and rho >= 0):
            raise UserError(f"SAM's rho must be a number >= 0; got {rho!r}")
        self.base, self.rho = base, float(rho)
        # Sharing the base's group dicts keeps lr, weight decay and schedulers in one place.
        super().__init__(base.param_groups, {})
        self.param_groups = base.param_groups

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:
        """One SAM step; returns the loss at the current weights (the first closure's value)."""
        if closure is None:
            raise UserError(
                "SAM needs a closure that zeroes the gradients, recomputes the minibatch loss, calls "
                "backward and returns the loss: optimizer.step(closure)"
            )
        closure = torch.enable_grad()(closure)
        loss = closure()
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        if not params:
            raise UserError("SAM's closure produced no gradients; does it call loss.backward()?")
        grads = [p.grad for p in params]
        norm = torch.linalg.vector_norm(torch.stack([n.to(grads[0]) for n in torch._foreach_norm(grads)]))
        if self.rho > 0 and norm > 0:
            # Swap the parameters' storage for w + e and back: restoring is exact (w + e - e != w in floating
            # point) and costs no copy.
            saved = [p.data for p in params]
            shifted = torch._foreach_add(saved, grads, alpha=(self.rho / norm).item())
            for p, w in zip(params, shifted, strict=True):
                p.data = w
            closure()
            for p, w in zip(params, saved, strict=True):
                p.data = w
        # with rho = 0 (or a zero gradient) the ascent point is w itself and g' = g: no second pass needed
        self.base.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        """The base optimizer's state plus rho (SAM itself keeps nothing between steps)."""
        return {"base": self.base.state_dict(), "rho": self.rho}

    def load_state_dict(self, state_dict: dict) -> None:
        self.base.load_state_dict(state_dict["base"])
        self.rho = float(state_dict["rho"])
