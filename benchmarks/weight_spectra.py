"""Weight spectra: ``phenomena.probes.weight_spectra`` against WeightWatcher on the same layers.

The peer is WeightWatcher (``pip install weightwatcher``; it pulls pandas; the script exits 0 with a message when it
is not importable). Both fit the eigenvalues of each Linear layer's WᵀW by the Clauset–Shalizi–Newman MLE with the
KS-chosen xmin; WeightWatcher's ``analyze`` fits the unnormalized σᵢ², we fit σᵢ²/N, so α, the KS distance D and the
tail size must agree exactly and our xmin · N must equal WeightWatcher's xmin. Its ``spectral_norm`` column is
λ_max = ‖W‖₂² (ours squared) and its ``stable_rank`` is ‖W‖_F²/‖W‖₂² (ours). Two models: a randomly initialized
MLP (random-like layers, large α) and the same MLP after full-batch SGD on a random-teacher task (heavier tails).
Agreement: |Δα| / α ≤ 1e-6 on every layer with a finite α, else the script exits with 1, except for ESDs with fewer
than WeightWatcher's ``SMALL_N_CUTOFF`` (20 in 0.7.7) eigenvalues: there it switches to its own small-N estimator
(bias-corrected α = 1 + (n−1)/Σ log(x/xmin), xmin minimizing D − 0.868/√n), not the CSN fit; those rows are marked
"small-N" and shown, not judged. The times printed are one call of each on the whole model (WeightWatcher's includes
building its pandas table), ratio = theirs / ours.

    PYTHONPATH=src python benchmarks/weight_spectra.py [--width 512] [--steps 300] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import sys
import time
import warnings

import torch
from common import add_json_argument, write_summary
from common import row as summary_row
from torch import nn

from phenomena.probes.weight_spectra import weight_spectra


def build_mlp(width: int, seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # nn init draws from the global RNG; keep it untouched
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width // 2), nn.ReLU(), nn.Linear(width // 2, 10)
        )


def train(model: nn.Module, steps: int, seed: int) -> nn.Module:
    """Full-batch SGD (lr 0.2) on 2048 Gaussian inputs labelled by a random linear teacher."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2048, 64, generator=g)
    y = (x @ torch.randn(64, 10, generator=g)).argmax(1)
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model


def run_ww(ww, model: nn.Module):
    """WeightWatcher's per-layer table (quiet: it prints and logs a lot), and its wall time."""
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        details = ww.WeightWatcher(model=model).analyze(min_evals=10, randomize=False, mp_fit=False, plot=False)
    return details, time.perf_counter() - t0


def compare(name: str, model: nn.Module, ww, small_n: int, timings: list | None = None) -> bool:
    t0 = time.perf_counter()
    ours = weight_spectra(model)
    t_ours = time.perf_counter() - t0
    details, t_ww = run_ww(ww, model)
    print(f"\n{name}: ours {t_ours:.3f} s, WeightWatcher {t_ww:.3f} s, ratio {t_ww / t_ours:.1f}")
    if timings is not None:
        timings.append((name, t_ours, t_ww))
    print(
        f"{'layer':<6}{'N x M':>11}{'alpha':>9}{'alpha ww':>10}{'|d alpha|':>11}{'D':>8}{'D ww':>8}"
        f"{'tail':>6}{'ww':>5}{'xmin*N/ww':>11}{'srank/ww':>10}{'norm²/ww':>10}"
    )
    ok = True
    rows = details.to_dict("records")
    if len(rows) != len(ours):
        print(f"layer count differs: ours {len(ours)}, WeightWatcher {len(rows)}")
        return False
    for (layer, s), row in zip(ours.items(), rows, strict=True):
        n, m = s.shape
        a_ww = float(row["alpha"])
        d_alpha = abs(s.alpha - a_ww)
        judged = math.isfinite(s.alpha) and len(s.eigenvalues) >= small_n
        if judged:
            ok &= d_alpha <= 1e-6 * abs(a_ww)
        xmin_ratio = s.xmin * n / float(row["xmin"])
        srank_ratio = s.stable_rank / float(row["stable_rank"])
        norm_ratio = s.spectral_norm**2 / float(row["spectral_norm"])
        print(
            f"{layer:<6}{f'{n}x{m}':>11}{s.alpha:>9.4f}{a_ww:>10.4f}{d_alpha:>11.1e}{s.ks_distance:>8.4f}"
            f"{float(row['D']):>8.4f}{s.n_tail:>6}{int(row['num_pl_spikes']):>5}{xmin_ratio:>11.6f}"
            f"{srank_ratio:>10.6f}{norm_ratio:>10.6f}" + ("" if judged else "  small-N")
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=512, help="first hidden width (the second is half of it)")
    ap.add_argument("--steps", type=int, default=300, help="full-batch SGD steps for the trained model")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    add_json_argument(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import weightwatcher as ww
            from weightwatcher import WW_powerlaw
    except ImportError:
        print("weightwatcher is not installed (pip install weightwatcher); skipping the cross-check.")
        write_summary(args.json, "weight_spectra", [], skipped="weightwatcher is not installed")
        return 0
    print(f"MLP 64-{args.width}-{args.width // 2}-10, weightwatcher {ww.__version__}, {args.threads} thread(s)")
    small_n = int(getattr(WW_powerlaw, "SMALL_N_CUTOFF", 0))
    timings = []
    ok = compare("random init", build_mlp(args.width, seed=0), ww, small_n, timings)
    trained = train(build_mlp(args.width, seed=0), args.steps, seed=1)
    ok &= compare(f"trained ({args.steps} SGD steps)", trained, ww, small_n, timings)
    print("\n" + ("alpha agrees with WeightWatcher on every layer" if ok else "DISAGREEMENT with WeightWatcher"))
    # SVDs and a power-law fit per layer, not GEMM-bound: no GFLOP/s
    rows = [
        summary_row(
            f"MLP 64-{args.width}-{args.width // 2}-10 {name}, {args.threads} thread(s)",
            "probes.weight_spectra",
            t_ours,
            f"WeightWatcher {ww.__version__} analyze",
            t_ww,
            note="alpha agrees on every judged layer" if ok else "alpha DISAGREES with WeightWatcher",
        )
        for name, t_ours, t_ww in timings
    ]
    write_summary(args.json, "weight_spectra", rows, agree=ok, threads=args.threads)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
