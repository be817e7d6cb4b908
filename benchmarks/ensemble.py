"""Vectorized ensemble training against the sequential loop of plain ``fit`` runs.

Both sides do the same math: M MLPs 40→128→128→10 (``phenomena.models.MLP``, seeds 0..M-1) on MNIST-1D
(4000 train / 1000 test), minibatch 100 drawn from ``torch.Generator().manual_seed(seed)``, SGD with momentum
0.9, lr 0.05, logging train/test loss and accuracy every ``--log-every`` steps. The baseline is what one
writes without the ensemble trainer: for each seed, ``phenomena.training.fit`` with ``torch.optim.SGD`` and a
``LogMetrics`` callback. The two are timed back to back, interleaved over ``--repeats`` rounds (other
processes may share the CPU; the minimum of each is reported). Same math is checked first: 20 steps in float64
for 4 members must agree with the loop to 1e-10 (else exit 1); after the float32 runs the members' final test
accuracies are compared too (float32 rounding grows chaotically over hundreds of SGD steps, so parameters
differ there, but accuracies stay within a few tenths of a percent).

Default: M = 16, 500 steps, 2 torch threads, methods bmm and vmap; about a minute on an idle 2-core CPU. With
other processes on the cores, many small ops suffer most from 2 threads (OpenMP workers wait on each other),
which inflates the loop's time: compare with ``--threads 1``.

    PYTHONPATH=src python benchmarks/ensemble.py [--members 16] [--steps 500] [--threads 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import torch

from phenomena.data.mnist1d import mnist1d
from phenomena.models import MLP
from phenomena.training import LogMetrics, evaluate, fit, loss_function
from phenomena.training.ensemble import train_ensemble


def build(seed: int, dtype=torch.float32) -> MLP:
    return MLP(40, 10, width=128, depth=2, seed=seed).to(dtype)


def sequential(data, seeds, steps, batch_size, lr, momentum, log_every, dtype=torch.float32):
    loss = loss_function("ce")
    models = []
    for s in seeds:
        model = build(s, dtype)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)

        def measure(m):
            tr = evaluate(m, data.x_train, data.y_train, loss)
            te = evaluate(m, data.x_test, data.y_test, loss)
            return dict(train_loss=tr[0], train_acc=tr[1], test_loss=te[0], test_acc=te[1])

        fit(
            model,
            data,
            loss,
            opt,
            steps,
            batch_size,
            generator=torch.Generator().manual_seed(s),
            callbacks=[LogMetrics(log_every, measure)],
        )
        models.append(model)
    return models


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=16)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--methods", default="bmm,vmap", help="comma-separated ensemble methods to time")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = mnist1d()
    seeds = list(range(args.members))
    kw = dict(steps=args.steps, batch_size=args.batch_size, lr=0.05, momentum=0.9, log_every=args.log_every)
    methods = args.methods.split(",")
    print(
        f"{args.members} MLPs 40-128-128-10, MNIST-1D {data.n_train} train, batch {args.batch_size}, "
        f"{args.steps} steps, SGD momentum 0.9, {args.threads} threads"
    )

    d64 = dataclasses.replace(data, x_train=data.x_train.double(), x_test=data.x_test.double())
    kw64 = dict(kw, steps=20)
    loop64 = sequential(d64, seeds[:4], dtype=torch.float64, **kw64)
    for method in methods:
        res = train_ensemble(lambda s: build(s, torch.float64), seeds[:4], d64, method=method, **kw64)
        worst = max(_max_diff(a, b) for a, b in zip(res.models, loop64, strict=True))
        print(f"same math: {method} vs the loop of fit, 20 steps in float64: max |Δparam| {worst:.1e}")
        if worst > 1e-10 or res.method != method:
            return 1

    times: dict[str, list[float]] = {k: [] for k in ["loop of fit", *methods]}
    results = {}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        results["loop of fit"] = sequential(data, seeds, **kw)
        times["loop of fit"].append(time.perf_counter() - t0)
        for method in methods:
            t0 = time.perf_counter()
            res = train_ensemble(build, seeds, data, optimizer="sgd", method=method, **kw)
            times[method].append(time.perf_counter() - t0)
            results[method] = res.models

    base = min(times["loop of fit"])
    print(f"{'method':<14}{'best s':>9}{'all runs s':>24}{'speed-up':>10}")
    for name, ts in times.items():
        print(f"{name:<14}{min(ts):>9.2f}{', '.join(f'{t:.2f}' for t in ts):>24}{base / min(ts):>9.2f}x")
    loss = loss_function("ce")
    acc = {k: torch.tensor([evaluate(m, data.x_test, data.y_test, loss)[1] for m in ms]) for k, ms in results.items()}
    for method in methods:
        gap = (acc[method] - acc["loop of fit"]).abs().max().item()
        mean, ref = acc[method].mean().item(), acc["loop of fit"].mean().item()
        print(f"final test accuracy, {method}: mean {mean:.4f} (loop {ref:.4f}), max per-member gap {gap:.4f}")
    return 0


def _max_diff(a, b) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True))


if __name__ == "__main__":
    sys.exit(main())
