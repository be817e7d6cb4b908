"""The ensemble trainer's Adam step: ``FunctionalOptimizer`` on packed ensemble parameters vs ``torch.optim.Adam``
with ``foreach=True`` (the rule it followed before, and the fastest of torch's non-fused ones on CPU) on the same
tensors, and a check that it is ``torch.optim.Adam(fused=True)`` bit for bit.

Cases are the stacked parameters of catalog ensembles (MLPs, weights and biases, all members in one packed buffer):
two members of 40-256-256-10 (mode-connectivity's children), 90 of 40-48-48-10 (scaling-laws' sweeps) and 16 of
40-128-128-10. Each method takes ``--steps`` steps of the same gradients after a few untimed ones; the time is the
best of ``--repeats`` rounds, at ``--threads`` torch threads. An Adam step is memory-bound (no GEMM): it reads the
parameters, gradients and both moments and writes back all but the gradients, 7 x 4 bytes per float32 parameter at
the least, so the table gives that traffic per second too, not a fraction of the GEMM peak.

    python benchmarks/optimizer.py [--steps 200] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from common import add_json_argument, row, write_summary

from phenomena.training.functional_optim import FunctionalOptimizer
from phenomena.training.packed import packed_copy

CASES = {
    "2 x MLP 40-256-256-10": (2, (40, 256, 256, 10)),
    "90 x MLP 40-48-48-10": (90, (40, 48, 48, 10)),
    "16 x MLP 40-128-128-10": (16, (40, 128, 128, 10)),
}
BYTES_PER_PARAMETER = 7 * 4  # read p, g, m, v; write p, m, v (float32)


def stacked_shapes(members: int, dims: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The stacked (M, out, in) weights and (M, out) biases of ``members`` MLPs with layer sizes ``dims``."""
    shapes: list[tuple[int, ...]] = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:], strict=True):
        shapes += [(members, fan_out, fan_in), (members, fan_out)]
    return shapes


def best_step_time(step, steps: int, repeats: int) -> float:
    """Seconds per call of ``step()``: the best of ``repeats`` rounds of ``steps`` calls, after 10 untimed ones."""
    for _ in range(10):
        step()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def run_case(shapes: list[tuple[int, ...]], steps: int, repeats: int) -> tuple[float, float, bool]:
    """(ours s/step, torch foreach s/step, ours == torch fused bit for bit after ``steps`` steps)."""
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(s, generator=g) for s in shapes]
    grads = [torch.randn(s, generator=g) * 1e-2 for s in shapes]

    ours = packed_copy(start)
    ours_grads = packed_copy(grads)
    opt = FunctionalOptimizer("adam", ours, lr=1e-3)
    ours_s = best_step_time(lambda: opt.step(ours_grads), steps, repeats)

    def torch_adam(**flag):
        params = [torch.nn.Parameter(t.clone()) for t in start]
        for p, gr in zip(params, grads, strict=True):
            p.grad = gr.clone()
        return params, torch.optim.Adam(params, lr=1e-3, **flag)

    _, foreach = torch_adam(foreach=True)
    foreach_s = best_step_time(foreach.step, steps, repeats)

    # the same number of steps from the same start as ours took: the fused rule must give the same bits
    same, fused = torch_adam(fused=True)
    taken = opt.t
    for _ in range(taken):
        fused.step()
    exact = all(torch.equal(a, b.detach()) for a, b in zip(ours, same, strict=True))
    return ours_s, foreach_s, exact


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="timed steps per round")
    ap.add_argument("--repeats", type=int, default=5, help="rounds; the best is kept")
    ap.add_argument("--threads", type=int, default=1)
    add_json_argument(ap)
    args = ap.parse_args(argv)
    if args.steps < 1 or args.repeats < 1 or args.threads < 1:
        print("error: --steps, --repeats and --threads must be at least 1", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    print(f"Adam step over packed ensemble parameters, float32, {args.threads} thread(s), best of {args.repeats}")
    header = f"{'case':26s} {'parameters':>10s} {'ours us':>8s} {'foreach us':>10s} {'ratio':>6s} {'ours GB/s':>9s}"
    print(header + "  fused")
    rows, ok = [], True
    for case, (members, dims) in CASES.items():
        shapes = stacked_shapes(members, dims)
        n = sum(torch.Size(s).numel() for s in shapes)
        ours_s, foreach_s, exact = run_case(shapes, args.steps, args.repeats)
        ok &= exact
        gbs = n * BYTES_PER_PARAMETER / ours_s / 1e9
        print(
            f"{case:26s} {n:10d} {ours_s * 1e6:8.0f} {foreach_s * 1e6:10.0f} {ours_s / foreach_s:6.2f} {gbs:9.1f}  "
            f"{'bitwise' if exact else 'DIFFERS'}"
        )
        rows.append(
            row(case, "FunctionalOptimizer Adam", ours_s, "torch.optim.Adam(foreach=True)", foreach_s, gb_per_s=gbs)
        )
    write_summary(args.json, "optimizer", rows)
    if not ok:
        print("error: the ensemble's Adam step is not torch.optim.Adam(fused=True) bit for bit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
