"""Empirical NTK: each method of ``phenomena.probes.empirical_ntk`` against the naive Jacobian loop.

The baseline is what one writes without torch.func: a forward pass per example, one ``torch.autograd.grad``
per example and logit to fill the (N·K, P) Jacobian, then J Jᵀ (summed over logits for the traced kernel).
Every method must agree with it (max |ΔΘ| / max |Θ| ≤ 1e-4 in float32), else the script exits with 1.

Default: MLP 40→512→512→10 (~289k parameters), 256 inputs, the logit-summed kernel (N×N, as used for
kernel velocity), float32, one thread; about a minute. ``--full`` computes the per-logit (N, N, K, K)
kernel instead (about four minutes at the default size: the naive and Jacobian-contraction methods both
spend it in the N²K²P contraction, which NTK-vector products and structured derivatives avoid).

    PYTHONPATH=src python benchmarks/ntk.py [--full] [--n 256] [--width 512] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from common import add_json_argument, gemm_fields, gemm_peak, row, write_summary
from torch import nn

from phenomena.probes.ntk import empirical_ntk

METHODS = ("structured", "auto", "ntvp", "jacobian")


def build_mlp(width: int, seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # nn init draws from the global RNG; keep it untouched
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(40, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10))


def naive_ntk(model: nn.Module, x: torch.Tensor, trace: bool) -> tuple[torch.Tensor, float]:
    """The loop baseline; returns the kernel and the seconds spent building the Jacobian."""
    ps = list(model.parameters())
    n_params = sum(p.numel() for p in ps)
    t0 = time.perf_counter()
    rows = None
    for a in range(len(x)):
        out = model(x[a : a + 1]).reshape(-1)
        if rows is None:
            k = out.numel()
            rows = torch.empty(len(x) * k, n_params, dtype=out.dtype)
        for i in range(k):
            grads = torch.autograd.grad(out[i], ps, retain_graph=True)
            torch.cat([g.reshape(-1) for g in grads], out=rows[a * k + i])
    t_loop = time.perf_counter() - t0
    n = len(x)
    if trace:
        j = rows.reshape(n, k * n_params)  # Σ_i J_i J_iᵀ in one product over (logit, parameter)
        return j @ j.T, t_loop
    return (rows @ rows.T).reshape(n, k, n, k).permute(0, 2, 1, 3), t_loop


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="number of inputs")
    ap.add_argument("--width", type=int, default=512, help="hidden width of the 2-hidden-layer MLP")
    ap.add_argument("--full", action="store_true", help="per-logit (N, N, K, K) kernel instead of traced")
    ap.add_argument("--batch-size", type=int, default=64, help="block size passed to empirical_ntk")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of methods")
    add_json_argument(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    trace = not args.full

    model = build_mlp(args.width, seed=0)
    x = torch.randn(args.n, 40, generator=torch.Generator().manual_seed(1))
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"MLP 40-{args.width}-{args.width}-10 ({n_params:,} parameters), N = {args.n}, K = 10, "
        f"{'traced (N, N)' if trace else 'full (N, N, K, K)'} kernel, float32, {args.threads} thread(s)"
    )

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:  # first calls pay one-time costs (lazy imports, forward-AD decompositions)
        empirical_ntk(model, x[:4], method=m, trace=trace)

    t0 = time.perf_counter()
    ref, t_loop = naive_ntk(model, x, trace)
    t_naive = time.perf_counter() - t0
    print(f"{'method':<12}{'seconds':>10}{'speed-up':>10}{'max rel err':>14}")
    print(
        f"{'naive loop':<12}{t_naive:>10.2f}{1.0:>10.1f}{'-':>14}   (Jacobian loop {t_loop:.2f} s, "
        f"contraction {t_naive - t_loop:.2f} s)"
    )

    # J·Jᵀ flops, counted from shapes. For a block pair of a and b examples, the traced kernel is one product
    # (a, K·P) @ (K·P, b): 2·a·b·K·P flops; the full kernel is (a·K, P) @ (P, b·K): 2·a·b·K²·P flops. The naive
    # loop makes one product of all N examples; the "jacobian" method contracts blocks of --batch-size examples,
    # only the block pairs i <= j of the symmetric kernel.
    k_out = 10
    per_pair = 2.0 * n_params * (k_out if trace else k_out * k_out)
    sizes = [min(args.batch_size, args.n - s) for s in range(0, args.n, args.batch_size)]
    jacobian_flops = per_pair * sum(a * b for i, a in enumerate(sizes) for b in sizes[i:])
    naive_flops = per_pair * args.n * args.n
    peak = gemm_peak(args.threads) if "jacobian" in methods else None  # float32, the kernels' dtype

    ok = True
    scale = ref.abs().max().item()
    setting = (
        f"{'traced' if trace else 'full'} eNTK, MLP 40-{args.width}-{args.width}-10, N={args.n}, "
        f"{args.threads} thread(s)"
    )
    contraction_s = t_naive - t_loop
    rows = []
    for m in methods:
        t0 = time.perf_counter()
        k = empirical_ntk(model, x, method=m, trace=trace, batch_size=args.batch_size)
        dt = time.perf_counter() - t0
        err = (k - ref).abs().max().item() / scale
        ok &= err <= 1e-4
        print(f"{m:<12}{dt:>10.2f}{t_naive / dt:>10.1f}{err:>14.2e}")
        fields = {}
        note = f"max rel err {err:.1e}"
        if m == "jacobian":
            # only the J·Jᵀ flops, over the whole time (building J by vmap(jacrev) included): a lower bound
            fields = gemm_fields(jacobian_flops, dt, peak)
            note += (
                f"; GFLOP/s counts J·Jᵀ only ({jacobian_flops / 1e9:.1f} GFLOP), time includes building J; the naive "
                f"loop's single J·Jᵀ product ran at {naive_flops / max(contraction_s, 1e-12) / 1e9:.1f} GFLOP/s"
            )
        rows.append(
            row(
                setting,
                f"empirical_ntk method={m}",
                dt,
                "naive loop (autograd.grad per example and logit, then J·Jᵀ)",
                t_naive,
                note=note,
                **fields,
            )
        )
    print("all methods agree with the naive loop" if ok else "DISAGREEMENT with the naive loop")
    write_summary(
        args.json,
        "ntk",
        rows,
        agree=ok,
        naive_jacobian_loop_s=t_loop,
        naive_contraction_s=contraction_s,
        threads=args.threads,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
