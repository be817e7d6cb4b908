"""Throughput of the analytic infinite-width kernels: ``kernels.fc`` entries per second, relu and tanh.

For N inputs (d0 = 40 features, rows scaled to |x|^2 = d0, like standardized MNIST-1D) and depth L = 1..5 it
times ``fc(x, depth=L, activation=..., weight_std=1.5, bias_std=0.1)``, which returns the N x N NNGP and NTK;
the rate counts all N^2 output entries (the symmetric x2=None call computes half of them and mirrors).
relu uses the closed form; tanh uses the Hermite series with its 2-D fallback (``kernels.quadrature``).

Baseline, measured in the same run: the per-entry 2-D Gauss-Hermite product rule that neural-tangents'
``stax.ElementwiseNumerical(fn, deg=25)`` applies (deg^2 = 625 evaluations of phi and phi' per entry), on the
first layer of a row block of the tanh kernel (per-entry cost does not depend on N). The table reports both
rates, their ratio, and the baseline's max error against ``fc`` on that block (Gauss-Hermite's nodes are too
sparse near 0 for tanh at these variances, see the ``kernels.quadrature`` docstring).

Default: N = 1000, 2000, 4000, one torch thread, about a minute. ``--quick``: N = 256, 512, a few seconds.

    PYTHONPATH=src python benchmarks/kernels_throughput.py [--quick] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from common import add_json_argument, row, write_summary

from phenomena.kernels import fc


def inputs(n: int, d: int, device: str) -> torch.Tensor:
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return (x / x.norm(dim=1, keepdim=True) * math.sqrt(d)).to(device)


def timed(fn) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def gauss_hermite_layer(x: torch.Tensor, rows: int, ws: float, bs: float, deg: int = 25) -> tuple[torch.Tensor, float]:
    """First tanh layer of the NNGP on rows x all, by a deg x deg Gauss-Hermite product rule per entry."""
    z, w = np.polynomial.hermite_e.hermegauss(deg)
    z = torch.as_tensor(z, dtype=x.dtype, device=x.device)
    w = torch.as_tensor(w / math.sqrt(2 * math.pi), dtype=x.dtype, device=x.device)
    d0 = x.shape[1]
    start = time.perf_counter()
    k = ws**2 * x[:rows] @ x.T / d0 + bs**2
    kd = ws**2 * (x * x).sum(1) / d0 + bs**2
    s1, s2 = kd[:rows, None].sqrt(), kd[None, :].sqrt()
    rho = (k / (s1 * s2)).clamp(-1, 1)
    out, out_dot = torch.empty_like(k), torch.empty_like(k)
    for i in range(rows):  # one row of entries at a time: (N, deg, deg) nodes
        u = s1[i, 0] * z[None, :, None]
        v = s2[0, :, None, None] * (
            rho[i, :, None, None] * z[None, :, None] + (1 - rho[i, :, None, None] ** 2).sqrt() * z
        )
        fv, fu = torch.tanh(v), torch.tanh(u)
        du, dv = 1 - fu * fu, 1 - fv * fv
        ww = w[:, None] * w[None, :]
        out[i] = ws**2 * (ww * fu * fv).sum((1, 2)) + bs**2
        out_dot[i] = (ww * du * dv).sum((1, 2))  # the derivative dual, which ElementwiseNumerical needs for the NTK
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 256, 512 (a few seconds)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    add_json_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = (256, 512) if args.quick else (1000, 2000, 4000)
    depths = (1, 2, 3, 4, 5)
    ws, bs, d0 = 1.5, 0.1, 40
    print(f"kernels.fc throughput, M output entries / s ({args.device}, {args.threads} thread(s), float64)")
    print(f"{'activation':>10} {'N':>6} " + " ".join(f"{'L=' + str(L):>8}" for L in depths))
    table: dict[str, dict[str, list[float]]] = {}  # activation -> N -> M entries / s at L = 1..5
    for act in ("relu", "tanh"):
        for n in sizes:
            x = inputs(n, d0, args.device)
            fc(x[:8], depth=1, activation=act)  # warm caches (Hermite basis, quadrature nodes)
            rates = []
            table.setdefault(act, {})[str(n)] = rates
            for depth in depths:
                dt = timed(lambda x=x, d=depth, a=act: fc(x, depth=d, activation=a, weight_std=ws, bias_std=bs))
                rates.append(n * n / dt / 1e6)
            print(f"{act:>10} {n:>6} " + " ".join(f"{r:8.2f}" for r in rates))
    n = sizes[-1]
    x = inputs(n, d0, args.device)
    rows = 8 if args.quick else 16
    ours_dt = timed(lambda: fc(x, depth=1, activation="tanh", weight_std=ws, bias_std=bs))
    ours = fc(x[:rows], x, depth=1, activation="tanh", weight_std=ws, bias_std=bs)[0]
    base, base_dt = gauss_hermite_layer(x, rows, ws, bs)
    ours_rate, base_rate = n * n / ours_dt, rows * n / base_dt
    print(
        f"\ntanh, one layer, N={n}: fc {ours_rate / 1e6:.2f} M entries/s; per-entry Gauss-Hermite deg 25 "
        f"(neural-tangents ElementwiseNumerical) {base_rate / 1e6:.3f} M entries/s; "
        f"ratio {ours_rate / base_rate:.0f}x; "
        f"baseline max |error| {float((base - ours).abs().max()):.1e}"
    )
    # Not GEMM-bound (elementwise dual activations over N² entries): no GFLOP/s. Both sides as seconds per
    # million output entries, from the rates above (the baseline's per-entry cost does not depend on N).
    write_summary(
        args.json,
        "kernels_throughput",
        [
            row(
                f"tanh NNGP+NTK, one layer, N={n}, {args.threads} thread(s), float64, s per 1M entries",
                "kernels.fc (Hermite series)",
                1e6 / ours_rate,
                "Gauss-Hermite deg 25 per entry (neural-tangents ElementwiseNumerical)",
                1e6 / base_rate,
                note=f"baseline timed on {rows} x {n} entries; its max |error| vs fc "
                f"{float((base - ours).abs().max()):.1e}",
            )
        ],
        rates_m_entries_per_s=table,
        depths=list(depths),
        threads=args.threads,
        device=args.device,
    )


if __name__ == "__main__":
    main()
