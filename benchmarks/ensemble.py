"""Vectorized ensemble training: achieved GFLOP/s as a fraction of the GEMM peak, and the speed-up over the
sequential loop of plain ``fit`` runs.

Both sides do the same math: M MLPs 40→w→w→10 (``phenomena.models.MLP``, seeds 0..M-1) on MNIST-1D (4000 train /
1000 test), minibatch 100 drawn from ``torch.Generator().manual_seed(seed)``, SGD with momentum 0.9, lr 0.05,
logging train/test loss and accuracy every ``--log-every`` steps. The baseline is what one writes without the
ensemble trainer: for each seed, ``phenomena.training.fit`` with ``torch.optim.SGD`` and a ``LogMetrics``
callback. Same math is checked first: 20 steps in float64 for 4 members must agree with the loop to 1e-10 (else
exit 1); after the float32 runs the members' final test accuracies are compared too (float32 rounding grows
chaotically over hundreds of SGD steps, so parameters differ there, but accuracies stay within a few tenths of a
percent).

Training at these sizes is GEMM-bound, so the measure that matters is the fraction of the machine's GEMM peak:
flops are counted from the shapes (per member and step, forward 2·B·Σ in·out, weight gradients the same, input
gradients 2·B·Σ in·out over every layer but the first; plus the forward passes over the train and test sets at
each logged step) and divided by the wall time of the whole ``train_ensemble`` call; the peak is
``common.gemm_peak`` (float32 ``torch.mm`` of 1024² and 2048² matrices) at the same thread count, measured before
the first width and again after each one, and every fraction is taken against the best of those measurements: on a
shared machine the peak moves by tens of percent within minutes, and a peak caught in a slow moment would flatter
every fraction measured against it. The target is >= 60% of peak at width >= 256. Timings are the minimum over
``--repeats`` rounds, each method timed back to back.

The peak is that of large square products; a training step is made of small batched ones (16 × 100 × w · w × w and
thinner), which the BLAS runs at a lower rate. So each width also prints the rate of the step's products alone: the
same batched products, shapes and transpositions as the written-out step (:mod:`phenomena.training.bmm_step`), into
preallocated buffers, in a tight loop (:func:`step_products_rate`). It bounds what any trainer built on these
products can reach here; the trainer's rate over it is the share of the time spent in them.

    python benchmarks/ensemble.py [--widths 64,128,256,512] [--members 16] [--steps 500] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import torch
from common import add_json_argument, best_rate, gemm_fields, gemm_peak, row, write_summary

from phenomena.data.mnist1d import mnist1d
from phenomena.models import MLP
from phenomena.training import LogMetrics, evaluate, fit, loss_function
from phenomena.training.bmm_step import SKINNY
from phenomena.training.ensemble import train_ensemble


def builder(width: int, dtype=torch.float32):
    return lambda seed: MLP(40, 10, width=width, depth=2, seed=seed).to(dtype)


def training_flops(width: int, members: int, steps: int, batch: int, n_eval: int, logs: int) -> float:
    """GEMM flops of ``steps`` SGD steps of ``members`` MLPs 40-w-w-10 on minibatches of ``batch``, plus
    ``logs`` forward passes over ``n_eval`` rows (train and test sets at each logged step)."""
    dims = [40, width, width, 10]
    layers = list(zip(dims[:-1], dims[1:], strict=True))
    per_row = sum(a * b for a, b in layers)
    step = 2 * batch * (per_row + per_row + sum(a * b for a, b in layers[1:]))  # forward, dW, dX (not for x)
    return members * (steps * step + logs * 2 * n_eval * per_row)


def step_products(width: int, members: int, batch: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], float]:
    """The batched products of one written-out step of M MLPs 40-w-w-10, as (left, right) operand pairs of random
    values, and their flops: forward, weight gradient and (above the first layer) input gradient of every layer,
    in the step's layouts (a layer with few outputs runs its forward and weight gradient transposed, as
    ``bmm_step.SKINNY`` decides)."""
    gen = torch.Generator().manual_seed(0)
    dims = [40, width, width, 10]
    ops, flops = [], 0.0
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        h, w, d = (torch.randn(members, *s, generator=gen) for s in ((batch, a), (a, b), (batch, b)))
        if b <= SKINNY < a:  # zᵀ = Wᵀ hᵀ and dWᵀ = δᵀ h
            ops += [(w.transpose(1, 2), h.transpose(1, 2)), (d.transpose(1, 2), h)]
        else:
            ops += [(h, w), (h.transpose(1, 2), d)]
        if i > 0:
            ops.append((d, w.transpose(1, 2)))
        flops += members * 2 * batch * a * b * (3 if i > 0 else 2)
    return ops, flops


def step_products_rate(width: int, members: int, batch: int, threads: int, repeats: int = 5) -> float:
    """GFLOP/s of :func:`step_products` at ``threads`` threads, into preallocated outputs: the best of ``repeats``
    timings of 20 steps' worth, after a warm-up round."""
    ops, flops = step_products(width, members, batch)
    outs = [torch.empty(x.shape[0], x.shape[1], y.shape[2]) for x, y in ops]

    def twenty_steps():
        for _ in range(20):
            for (x, y), out in zip(ops, outs, strict=True):
                torch.bmm(x, y, out=out)

    return best_rate(twenty_steps, 20 * flops, threads, repeats)


def sequential(data, seeds, steps, batch_size, lr, momentum, log_every, dtype=torch.float32, width=128):
    loss = loss_function("ce")
    models = []
    for s in seeds:
        model = builder(width, dtype)(s)
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
    ap.add_argument("--widths", default="64,128,256,512", help="comma-separated hidden widths")
    ap.add_argument("--members", type=int, default=16)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--methods", default="bmm,vmap", help="comma-separated ensemble methods to time")
    add_json_argument(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    widths = [int(w) for w in args.widths.split(",")]
    data = mnist1d()
    seeds = list(range(args.members))
    kw = dict(steps=args.steps, batch_size=args.batch_size, lr=0.05, momentum=0.9, log_every=args.log_every)
    methods = args.methods.split(",")
    peaks = [gemm_peak(args.threads)]
    print(
        f"{args.members} MLPs 40-w-w-10, MNIST-1D {data.n_train} train, batch {args.batch_size}, {args.steps} steps, "
        f"SGD momentum 0.9, {args.threads} threads"
    )

    d64 = dataclasses.replace(data, x_train=data.x_train.double(), x_test=data.x_test.double())
    kw64 = dict(kw, steps=20)
    loop64 = sequential(d64, seeds[:4], dtype=torch.float64, width=widths[0], **kw64)
    for method in methods:
        res = train_ensemble(builder(widths[0], torch.float64), seeds[:4], d64, method=method, **kw64)
        worst = max(_max_diff(a, b) for a, b in zip(res.models, loop64, strict=True))
        print(f"same math: {method} vs the loop of fit, 20 steps in float64: max |Δparam| {worst:.1e}")
        if worst > 1e-10 or res.method != method:
            return 1

    logs = len({*range(0, args.steps + 1, args.log_every), args.steps})
    n_eval = data.x_train.shape[0] + data.x_test.shape[0]
    timed: dict[int, tuple[dict[str, list[float]], dict]] = {}
    products: dict[int, float] = {}
    for width in widths:
        times: dict[str, list[float]] = {k: [] for k in ["loop of fit", *methods]}
        results = {}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            results["loop of fit"] = sequential(data, seeds, width=width, **kw)
            times["loop of fit"].append(time.perf_counter() - t0)
            for method in methods:
                t0 = time.perf_counter()
                res = train_ensemble(builder(width), seeds, data, optimizer="sgd", method=method, **kw)
                times[method].append(time.perf_counter() - t0)
                results[method] = res.models
        timed[width] = times, results
        products[width] = step_products_rate(width, args.members, args.batch_size, args.threads)
        peaks.append(gemm_peak(args.threads))
    peak = max(peaks)
    print(
        f"GEMM peak (torch.mm 1024-2048), measured {len(peaks)} times during the run: "
        f"{', '.join(f'{p:.0f}' for p in peaks)} GFLOP/s; the fractions are of the best, {peak:.0f}"
    )

    rows, ok = [], True
    print(f"\n{'width':>5} {'method':<12}{'best s':>8}{'all runs s':>20}{'vs loop':>9}{'GFLOP/s':>9}{'of peak':>9}")
    for width, (times, results) in timed.items():
        flops = training_flops(width, args.members, args.steps, args.batch_size, n_eval, logs)
        base = min(times["loop of fit"])
        for name, ts in times.items():
            gemm = gemm_fields(flops, min(ts), peak)
            print(
                f"{width:>5} {name:<12}{min(ts):>8.2f}  {', '.join(f'{t:.2f}' for t in ts):>18}"
                f"{base / min(ts):>8.2f}x{gemm['gflops']:>9.1f}{gemm['peak_fraction']:>9.0%}"
            )
        loss = loss_function("ce")
        acc = {
            k: torch.tensor([evaluate(m, data.x_test, data.y_test, loss)[1] for m in ms]) for k, ms in results.items()
        }
        for method in methods:
            gap = (acc[method] - acc["loop of fit"]).abs().max().item()
            rate, gemm = products[width], gemm_fields(flops, min(times[method]), peak)
            print(
                f"      the step's products alone: {rate:.1f} GFLOP/s ({rate / peak:.0%} of peak); {method} reaches "
                f"{gemm['gflops'] / rate:.0%} of that"
            )
            print(
                f"      final test accuracy, {method}: mean {acc[method].mean():.4f} (loop "
                f"{acc['loop of fit'].mean():.4f}), max per-member gap {gap:.4f}"
            )
            ok = ok and gap < 0.05
            target = {"target": "peak_fraction >= 0.6"} if width >= 256 else {}
            met = {"met": gemm["peak_fraction"] >= 0.6} if target else {}
            rows.append(
                row(
                    f"{args.members} MLPs 40-{width}-{width}-10, {args.steps} steps, {args.threads} threads",
                    f"train_ensemble {method}",
                    min(times[method]),
                    "loop of fit",
                    base,
                    **gemm,
                    **target,
                    **met,
                    products_alone_gflops=rate,
                    note=f"the step's batched products alone run at {rate:.0f} GFLOP/s ({rate / peak:.0%} of peak)",
                )
            )
    write_summary(args.json, "ensemble", rows, threads=args.threads)
    return 0 if ok else 1


def _max_diff(a, b) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True))


if __name__ == "__main__":
    sys.exit(main())
