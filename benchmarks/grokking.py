"""`phenomena run grokking` (quick) vs a naive PyTorch loop of the same model and data, in one invocation.

The naive loop is what a notebook does (the d-doshi/Grokking notebooks, the Omnigrok ones): one-hot inputs
through a dense ``nn.Linear(2p, N)``, a ``DataLoader``-free full-batch step, and train *and* test accuracy
evaluated after every step, until test accuracy reaches 0.95 (or the same 400-step budget runs out).
Both sides run as fresh processes (interpreter + torch import included), with the same torch thread count.

    python benchmarks/grokking.py            # prints both wall times, steps to 0.95 and the ratio
    python benchmarks/grokking.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from common import add_json_argument, row, write_summary

NAIVE = r"""
import sys, time, torch, torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]))
p, N, frac, steps = 97, 500, 0.25, 400
g = torch.Generator().manual_seed(0)
pairs = torch.cartesian_prod(torch.arange(p), torch.arange(p))
labels = (pairs[:, 0] + pairs[:, 1]) % p
order = torch.randperm(len(pairs), generator=g)
n = round(frac * len(pairs))
onehot = torch.cat([F.one_hot(pairs[:, 0], p), F.one_hot(pairs[:, 1], p)], 1).float()
xtr, ytr, xte, yte = onehot[order[:n]], labels[order[:n]], onehot[order[n:]], labels[order[n:]]
class Square(torch.nn.Module):
    def forward(self, x): return x * x
model = torch.nn.Sequential(torch.nn.Linear(2 * p, N, bias=False), Square(), torch.nn.Linear(N, p, bias=False))
opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=2.0, betas=(0.9, 0.98))
t_gen = None
for step in range(1, steps + 1):
    opt.zero_grad()
    F.mse_loss(model(xtr), F.one_hot(ytr, p).float()).backward()
    opt.step()
    with torch.no_grad():
        train_acc = (model(xtr).argmax(1) == ytr).float().mean().item()
        test_acc = (model(xte).argmax(1) == yte).float().mean().item()
    if test_acc >= 0.95:
        t_gen = step
        break
print(t_gen, test_acc)
"""


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{done.stderr}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    add_json_argument(parser)
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    ours, naive = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as home:
            cmd = [sys.executable, "-m", "phenomena", "--home", home, "run", "grokking", "--json"]
            seconds, out = timed(cmd, env)
            result = json.loads(out)
            ours.append((seconds, result["summary"]["t_gen"], result["verdict"]["passed"]))
        seconds, out = timed([sys.executable, "-c", NAIVE, str(args.threads)], env)
        t_gen, acc = out.split()
        naive.append((seconds, t_gen, float(acc)))
    best_ours, best_naive = min(ours), min(naive)
    print(f"torch threads: {args.threads}")
    print(
        f"phenomena run grokking (quick): {best_ours[0]:6.1f} s wall, test acc >= 0.95 at step "
        f"{best_ours[1]:.0f}, verdict {'PASS' if best_ours[2] else 'FAIL'}"
    )
    print(
        f"naive one-hot loop, eval every step: {best_naive[0]:6.1f} s wall, test acc >= 0.95 at step "
        f"{best_naive[1]} (final test acc {best_naive[2]:.3f})"
    )
    print(f"ratio naive / phenomena: {best_naive[0] / best_ours[0]:.2f}x")
    verdict = "PASS" if best_ours[2] else "FAIL"
    write_summary(
        args.json,
        "grokking",
        [
            row(
                f"grokking quick preset, {args.threads} thread(s), best of {args.repeats}",
                "phenomena run grokking (quick)",
                best_ours[0],
                "naive one-hot loop, eval every step",
                best_naive[0],
                note=f"fresh processes; test acc >= 0.95 at step {best_ours[1]:.0f} (ours, verdict {verdict}) "
                f"vs {best_naive[1]} (naive)",
            )
        ],
        threads=args.threads,
    )


if __name__ == "__main__":
    main()
