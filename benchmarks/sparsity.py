"""Sparsity and connectivity building blocks: weight matching of two 3x512 MLPs, and IMP over several seeds
with the vectorized ensemble trainer against the loop of ``imp`` runs.

1. Weight matching (``probes.weight_matching``) of two MLPs 40→512→512→512→10 (MNIST-1D inputs): time at
   initialization and after training both for ``--wm-steps`` Adam steps (batch 500, Ainsworth et al.'s MNIST
   MLP shape), with the naive and the weight-matched interpolation barriers on the training set as a check
   that the matching means something (Ainsworth et al.: matching removes most of the barrier of trained
   nets). Activation matching is timed on the same pair for comparison.
2. IMP (``training.pruning``), ``--seeds`` seeds of an MLP 40→100→100→10, ``--rounds`` prune-rewind-retrain
   rounds of 20% (output layer 10%), rewinding to θ_0, ``--steps`` SGD-momentum steps per round, batch 100.
   Baseline: one ``imp`` call per seed (``fit`` with the mask re-applied after each step). Ensemble: per
   round, one ``train_ensemble`` call over the seeds with each member's mask (``masks=``: zeroed after every
   update, as the baseline's callback does), pruning each member with the same ``magnitude_prune``. The two
   compute the same math up to float32 rounding; final masks and test accuracies are compared.

    PYTHONPATH=src python benchmarks/sparsity.py [--seeds 4] [--rounds 3] [--steps 200] [--wm-steps 200]
        [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from common import add_json_argument, row, write_summary

from phenomena.data.mnist1d import mnist1d
from phenomena.models import MLP
from phenomena.probes.connectivity import interpolation_barrier
from phenomena.probes.permutation import activation_matching, weight_matching
from phenomena.training import evaluate, fit, train_ensemble
from phenomena.training.pruning import Mask, imp, magnitude_prune


def bench_weight_matching(data, steps: int) -> dict:
    x, y = data.x_train, data.y_train
    nets = [MLP(40, 10, width=512, depth=3, seed=s) for s in (0, 1)]
    t0 = time.perf_counter()
    m0 = weight_matching(nets[0], nets[1])
    t_init = time.perf_counter() - t0
    print(f"weight matching 3x512 MLPs at init: {t_init:.2f} s, {m0.iterations} sweeps")
    for s, net in enumerate(nets):
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        fit(net, data, F.cross_entropy, opt, steps, 500, generator=torch.Generator().manual_seed(s))
    t0 = time.perf_counter()
    m = weight_matching(nets[0], nets[1])
    t_wm = time.perf_counter() - t0
    t0 = time.perf_counter()
    am = activation_matching(nets[0], nets[1], (x, y))
    t_am = time.perf_counter() - t0
    naive = interpolation_barrier(nets[0], nets[1], F.cross_entropy, (x, y), 11)
    matched = interpolation_barrier(nets[0], m.model, F.cross_entropy, (x, y), 11)
    act = interpolation_barrier(nets[0], am.model, F.cross_entropy, (x, y), 11)
    print(
        f"after {steps} Adam steps: weight matching {t_wm:.2f} s ({m.iterations} sweeps), "
        f"activation matching {t_am:.2f} s ({t_wm / t_am:.1f}x)"
    )
    ratio = matched.barrier / naive.barrier
    print(
        f"  train-loss barrier: naive {naive.barrier:.3f}, weight-matched {matched.barrier:.3f} "
        f"({ratio:.2f} of naive), activation-matched {act.barrier:.3f}"
    )
    return row(
        f"two MLPs 40-512-512-512-10 after {steps} Adam steps",
        "probes.weight_matching",
        t_wm,
        "probes.activation_matching",
        t_am,
        note=f"{m.iterations} sweeps; train-loss barrier naive {naive.barrier:.3f}, weight-matched "
        f"{matched.barrier:.3f}, activation-matched {act.barrier:.3f}; at init weight matching took {t_init:.2f} s",
    )


WIDTH = 100


def build(seed: int) -> MLP:
    return MLP(40, 10, width=WIDTH, depth=2, seed=seed)


def imp_loop(data, seeds, rounds, steps, lr, momentum):
    results = []
    for seed in seeds:

        def train_fn(model, rnd, seed=seed):
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
            fit(
                model,
                data,
                F.cross_entropy,
                opt,
                steps,
                100,
                generator=torch.Generator().manual_seed(seed),
                callbacks=rnd.callbacks,
            )
            return {"test_acc": evaluate(model, data.x_test, data.y_test, F.cross_entropy)[1]}

        results.append(imp(build, train_fn, rounds, 0.2, seed=seed))
    return results


def imp_ensemble(data, seeds, rounds, steps, lr, momentum):
    """IMP over the seeds in lockstep: per round one ``train_ensemble`` of the members' masked models."""
    masks = {s: Mask.ones(build(s)) for s in seeds}
    history = {s: [] for s in seeds}
    for _ in range(rounds + 1):
        res = train_ensemble(
            build,
            seeds,
            data,
            lr=lr,
            momentum=momentum,
            steps=steps,
            batch_size=100,
            log_every=steps,
            masks=[masks[s] for s in seeds],
        )
        for j, s in enumerate(seeds):
            history[s].append((masks[s], float(res.curves["test_acc"][j, -1])))
            masks[s] = magnitude_prune(res.models[j], 0.2, mask=masks[s])
    return history


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--wm-steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    add_json_argument(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = mnist1d()
    print(f"MNIST-1D {data.n_train} train / {len(data.x_test)} test, {args.threads} torch thread(s)")
    rows = [bench_weight_matching(data, args.wm_steps)]

    seeds, kw = list(range(args.seeds)), dict(rounds=args.rounds, steps=args.steps, lr=0.05, momentum=0.9)
    print(
        f"IMP: {args.seeds} seeds of MLP 40-{WIDTH}-{WIDTH}-10, {args.rounds} rounds of 20% "
        f"(output 10%), rewind to init, {args.steps} SGD steps per round"
    )
    t0 = time.perf_counter()
    loop = imp_loop(data, seeds, **kw)
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    ens = imp_ensemble(data, seeds, **kw)
    t_ens = time.perf_counter() - t0
    print(f"  loop of imp: {t_loop:.2f} s; ensemble: {t_ens:.2f} s; speed-up {t_loop / t_ens:.2f}x")
    for r in range(args.rounds + 1):
        agree = sum(
            float((loop[i].masks[r][n] == ens[s][r][0][n]).double().mean())
            for i, s in enumerate(seeds)
            for n in loop[i].masks[r]
        ) / (len(seeds) * len(loop[0].masks[r]))
        acc_l = sum(res.metrics[r]["test_acc"] for res in loop) / len(seeds)
        acc_e = sum(ens[s][r][1] for s in seeds) / len(seeds)
        print(
            f"  round {r}: sparsity {loop[0].masks[r].sparsity():.3f}, mean test acc loop {acc_l:.4f} "
            f"ensemble {acc_e:.4f}, mask agreement {agree:.4f}"
        )
    # many small steps of a 100-wide MLP: overhead-bound, not GEMM-bound, so no GFLOP/s
    rows.append(
        row(
            f"IMP, {args.seeds} seeds of MLP 40-{WIDTH}-{WIDTH}-10, {args.rounds} rounds x {args.steps} steps, "
            f"{args.threads} thread(s)",
            "train_ensemble with masks, per round",
            t_ens,
            "loop of imp runs",
            t_loop,
            note=f"last round: mask agreement {agree:.4f}, mean test acc {acc_e:.4f} (ensemble) vs {acc_l:.4f} (loop)",
        )
    )
    write_summary(args.json, "sparsity", rows, threads=args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
