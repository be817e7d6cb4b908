"""Probes inside anyone's training loop: a ``Monitor`` runs named probes every k steps and keeps their curves.

>>> import torch.nn.functional as F, phenomena as ph
>>> from phenomena.monitor import Monitor, sharpness, neural_collapse
>>> monitor = Monitor(model, {"sharpness": sharpness(F.cross_entropy),
...                           "nc": neural_collapse(model[-2], classifier=model[-1])}, every=50, store="runs")
>>> for step, (x, y) in enumerate(loader):
...     loss = F.cross_entropy(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
...     monitor.step(step, (x, y))
>>> monitor.curve("sharpness"), monitor.figure()
>>> run_id = monitor.close()                 # one run record (experiment "monitor") and its figure

A probe is any callable ``probe(model, batch, **context) -> float | dict[str, float]``; the context is what the
caller passed to :meth:`Monitor.step`, plus ``step`` for probes that accept it (a ``step`` parameter or
``**kwargs``). The factories below wrap the pure probes of :mod:`phenomena.probes` for a schedule (warm starts,
the kernel at the first call, forward hooks) and add no mathematics of their own.

Guarantee: whatever a probe does, the training loop continues exactly as if it had not run. Before the probes
of a step the Monitor snapshots the model's train/eval flags (every module), its parameters and buffers
(values and the tensor objects themselves, and ``requires_grad``), every ``.grad`` (None or a tensor, with its
value), the global RNG states (torch CPU, CUDA when initialized, Python ``random``, NumPy's legacy global
generator), autograd's grad mode and the default dtype; after each probe it restores them (a value is copied
back only where it changed, so tensors saved by a live autograd graph keep their version). This costs one copy
of the parameters, buffers and gradients per measured step.
"""

from phenomena.monitor.monitor import Monitor as Monitor
from phenomena.monitor.probes import cka_to as cka_to
from phenomena.monitor.probes import effective_rank as effective_rank
from phenomena.monitor.probes import forgetting as forgetting
from phenomena.monitor.probes import hessian_trace as hessian_trace
from phenomena.monitor.probes import neural_collapse as neural_collapse
from phenomena.monitor.probes import ntk_alignment as ntk_alignment
from phenomena.monitor.probes import ntk_velocity as ntk_velocity
from phenomena.monitor.probes import sharpness as sharpness
from phenomena.monitor.probes import to_device as to_device
from phenomena.monitor.snapshot import Snapshot as Snapshot
