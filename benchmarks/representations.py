"""Benchmark: CKA and neural-collapse metrics on 50k x 512 random features against naive NumPy baselines.

Run:  PYTHONPATH=src python benchmarks/representations.py [--n 50000] [--dim 512] [--classes 10]

Prints wall times (best of --repeats, ours and baseline alternating) and ratios, measured in this process:
- linear CKA, biased and unbiased: ``phenomena.probes.similarity.cka`` against Kornblith et al.'s NumPy
  ``feature_space_linear_cka`` (float64, the reference Colab's feature-space form, transcribed below); values
  must agree to ~1e-10. Minibatch CKA (Nguyen et al. 2021, batch 256) is timed too.
- torch-cka (``pip install "phenomena[bench]"``; skipped when not importable), the peer library: its ``CKA``
  class hooks two models and averages the unbiased HSIC over a DataLoader's minibatches, the estimator of our
  ``MinibatchCKA``. (a) one pair on the same 50k x 512 features (models that return them unchanged), against
  ``MinibatchCKA``; (b) all 4 x 4 layer pairs of two 4-layer 512-wide MLPs on 50k inputs, against
  ``cka_matrix``. Same batches (256, full ones only); values must agree to float32 rounding (torch-cka
  computes in float32, we in float64).
  Both are bound by the same three GEMMs (XᵀY, XᵀX, YᵀY); the "GEMM floor" row times torch's three products
  alone. On CPUs where NumPy's BLAS beats torch's (e.g. MKL on AMD hosts) or where NumPy turns XᵀX into a
  syrk (half the flops), the NumPy baseline can be faster than ours; the ratio printed is what it is.
- neural collapse: ``neural_collapse`` against (a) a NumPy version with per-class GEMMs and a pseudo-inverse,
  and (b) a NumPy transcription of Papyan et al.'s demo loop (per-example outer products, per-example NCC
  distances) on the first --papyan-n examples, with ours on the same subset.
- peak memory (VmHWM of a fresh subprocess, minus that of a subprocess that only imports and creates
  the generator) of the streaming NC path, which draws the features batch by batch and never holds them all,
  against the in-memory path on the same data.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import add_json_argument, gemm_fields, gemm_peak, row, write_summary

from phenomena.probes.collapse import CollapseAccumulator, neural_collapse
from phenomena.probes.similarity import MinibatchCKA, cka


def best_time(fn, repeats):
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def compare(ours, baseline, repeats):
    """Best-of-``repeats`` times of both, alternating runs so that load drift hits both alike."""
    t_a, t_b, out_a, out_b = float("inf"), float("inf"), None, None
    for _ in range(repeats):
        t, out_a = best_time(ours, 1)
        t_a = min(t_a, t)
        t, out_b = best_time(baseline, 1)
        t_b = min(t_b, t)
    return t_a, out_a, t_b, out_b


# --- naive baselines -------------------------------------------------------------------------------------


def feature_space_linear_cka(features_x, features_y, debiased=False):
    """Kornblith et al.'s reference NumPy implementation (Colab "Reliability of CKA"), transcribed."""
    features_x = features_x - np.mean(features_x, 0, keepdims=True)
    features_y = features_y - np.mean(features_y, 0, keepdims=True)
    dot_product_similarity = np.linalg.norm(features_x.T.dot(features_y)) ** 2
    normalization_x = np.linalg.norm(features_x.T.dot(features_x))
    normalization_y = np.linalg.norm(features_y.T.dot(features_y))
    if debiased:
        n = features_x.shape[0]
        ssr_x = np.einsum("ij,ij->i", features_x, features_x)
        ssr_y = np.einsum("ij,ij->i", features_y, features_y)
        sq_x, sq_y = np.sum(ssr_x), np.sum(ssr_y)

        def helper(xty, a, b, na, nb):
            return xty - n / (n - 2.0) * a.dot(b) + na * nb / ((n - 1) * (n - 2))

        dot_product_similarity = helper(dot_product_similarity, ssr_x, ssr_y, sq_x, sq_y)
        normalization_x = np.sqrt(helper(normalization_x**2, ssr_x, ssr_x, sq_x, sq_x))
        normalization_y = np.sqrt(helper(normalization_y**2, ssr_y, ssr_y, sq_y, sq_y))
    return dot_product_similarity / (normalization_x * normalization_y)


def numpy_nc(h, y, w, b, c):
    """NC1, NC3, NC4 with per-class GEMMs and np.linalg.pinv (a sensible naive implementation)."""
    h = h.astype(np.float64)
    n, d = h.shape
    means = np.stack([h[y == k].mean(0) for k in range(c)])
    sw = np.zeros((d, d))
    for k in range(c):
        z = h[y == k] - means[k]
        sw += z.T @ z
    sw /= n
    mt = means - means.mean(0)
    sb = mt.T @ mt / c
    nc1 = np.trace(sw @ np.linalg.pinv(sb, rcond=1e-10, hermitian=True)) / c
    nc3 = np.sum((w / np.linalg.norm(w) - mt / np.linalg.norm(mt)) ** 2)
    d2 = (h**2).sum(1)[:, None] - 2 * h @ means.T + (means**2).sum(1)[None, :]
    nc4 = np.mean(np.argmax(h @ w.T + b, 1) != np.argmin(d2, 1))
    return {"nc1": nc1, "nc3": nc3, "nc4": nc4}


def papyan_demo_nc(h, y, w, b, c, batch=128):
    """Papyan et al.'s demo loop in NumPy: per-example outer products for Σ_W, per-example NCC distances."""
    h = h.astype(np.float64)
    n, d = h.shape
    means = np.stack([h[y == k].mean(0) for k in range(c)])
    sw = np.zeros((d, d))
    mismatch = 0
    for start in range(0, n, batch):
        hb, yb = h[start : start + batch], y[start : start + batch]
        for k in range(c):
            hc = hb[yb == k]
            if len(hc) == 0:
                continue
            z = hc - means[k]
            sw += np.sum(z[:, :, None] * z[:, None, :], axis=0)
            net_pred = np.argmax(hc @ w.T + b, 1)
            ncc = np.array([np.argmin(np.linalg.norm(hc[i] - means, axis=1)) for i in range(len(hc))])
            mismatch += int(np.sum(ncc != net_pred))
    sw /= n
    mt = means - means.mean(0)
    sb = mt.T @ mt / c
    evals, evecs = np.linalg.eigh(sb)
    top = np.argsort(evals)[::-1][: c - 1]
    inv_sb = evecs[:, top] @ np.diag(1.0 / evals[top]) @ evecs[:, top].T
    return {"nc1": np.trace(sw @ inv_sb) / c, "nc4": mismatch / n}


def linear_cka_flops(n, p, q):
    """Flops of the products of one linear CKA of (n, p) and (n, q) features, counted from shapes: the feature
    form XᵀY, XᵀX, YᵀY is 2·n·(pq + p² + q²); the Gram form (which ``cka`` picks when it is cheaper, by the same
    test) XXᵀ, YYᵀ is 2·n²·(p + q). Centring and the O(n·(p + q)) corrections are not counted."""
    if p * q + p * p + q * q <= n * (p + q + 3):
        return 2.0 * n * (p * q + p * p + q * q)
    return 2.0 * n * n * (p + q)


def minibatch_cka_flops(n, p, q, batch=256):
    """Flops of the Gram products of minibatch CKA over the full batches: 2·B²·(p + q) per batch (XXᵀ, YYᵀ)."""
    return len(range(0, n - batch + 1, batch)) * 2.0 * batch * batch * (p + q)


def gemm_floor(x, y, repeats):
    """Seconds for the three float64 products every linear CKA needs, in torch."""
    xd, yd = x.double(), y.double()
    return best_time(lambda: (xd.T @ yd, xd.T @ xd, yd.T @ yd), repeats)[0]


# --- data --------------------------------------------------------------------------------------------------


def make_features(n, dim, classes, seed, batch=None):
    """Clustered float32 features (class means + noise); yields batches if ``batch`` is given."""
    gen = torch.Generator().manual_seed(seed)
    means = 2.0 * torch.randn(classes, dim, generator=gen)
    step = batch or n
    for start in range(0, n, step):
        m = min(step, n - start)
        y = torch.randint(0, classes, (m,), generator=gen)
        yield means[y] + 3.0 * torch.randn(m, dim, generator=gen), y


def classifier(dim, classes, seed):
    gen = torch.Generator().manual_seed(seed + 1)
    return torch.randn(classes, dim, generator=gen), torch.randn(classes, generator=gen)


def memory_child(mode, n, dim, classes):
    """Runs in a fresh process; prints peak RSS in MiB."""
    w, b = classifier(dim, classes, 0)
    if mode == "streaming":
        acc = CollapseAccumulator(classes)
        for h, y in make_features(n, dim, classes, 0, batch=1024):
            acc.update(h, y)
        for h, _ in make_features(n, dim, classes, 0, batch=1024):  # same seed: the same batches again
            acc.update_agreement(h, w, b)
        acc.compute(w, b)
    elif mode == "in-memory":
        h, y = next(make_features(n, dim, classes, 0))
        neural_collapse(h, y, w, b)
    print(peak_rss_mib())


def peak_rss_mib():
    # VmHWM belongs to the process image created by exec; ru_maxrss can carry the forking parent's peak.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss(mode, args):
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--memory-child",
        mode,
        "--n",
        str(args.n),
        "--dim",
        str(args.dim),
        "--classes",
        str(args.classes),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


# --- main --------------------------------------------------------------------------------------------------


def torch_cka_rows(torch_cka, h, h2, args):
    """Ours against torch-cka's ``CKA.compare`` on the same minibatches: one feature pair, then 4 x 4 layers."""
    import warnings

    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from phenomena.probes.similarity import cka_matrix

    def peer(model_a, model_b, layers_a, layers_b, xa, xb):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its "same dataloader" and "identical names" notices
            c = torch_cka.CKA(model_a, model_b, "a", "b", layers_a, layers_b, device="cpu")
            load = [DataLoader(TensorDataset(x), batch_size=256, shuffle=False, drop_last=True) for x in (xa, xb)]
            c.compare(*load)
        return c.hsic_matrix.double()

    rows = []
    same = nn.Sequential(nn.Identity())
    t_peer, v_peer = best_time(lambda: peer(same, nn.Sequential(nn.Identity()), ["0"], ["0"], h, h2), 1)

    def ours_pair():
        mb = MinibatchCKA()
        for start in range(0, args.n - 255, 256):
            mb.update(h[start : start + 256], h2[start : start + 256])
        return mb.compute()

    t_ours, v_ours = best_time(ours_pair, args.repeats)
    rows.append(
        (
            "minibatch CKA, 1 pair",
            t_ours,
            "torch-cka CKA.compare",
            t_peer,
            f"|diff| {abs(v_ours - float(v_peer[0, 0])):.1e}",
        )
    )

    def mlp(seed):
        g = torch.Generator().manual_seed(seed)
        layers = []
        for _ in range(4):
            lin = nn.Linear(args.dim, args.dim)
            with torch.no_grad():
                lin.weight.copy_(torch.randn(args.dim, args.dim, generator=g) * (2 / args.dim) ** 0.5)
            layers += [lin, nn.ReLU()]
        return nn.Sequential(*layers).eval()

    net_a, net_b = mlp(1), mlp(2)
    names = [str(2 * i + 1) for i in range(4)]  # the ReLU outputs
    x = torch.randn(args.n, args.dim, generator=torch.Generator().manual_seed(3))
    batches = [x[i : i + 256] for i in range(0, args.n - 255, 256)]
    t_ours, m_ours = best_time(lambda: cka_matrix(net_a, net_b, batches, names, names), args.repeats)
    t_peer, m_peer = best_time(lambda: peer(net_a, net_b, names, names, x, x), 1)
    rows.append(
        (
            "cka_matrix, 4x4 layers",
            t_ours,
            "torch-cka CKA.compare",
            t_peer,
            f"max |diff| {(m_ours.values - m_peer).abs().max().item():.1e}",
        )
    )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--papyan-n", type=int, default=5_000)
    parser.add_argument("--memory-child", choices=["baseline", "streaming", "in-memory"], help=argparse.SUPPRESS)
    add_json_argument(parser)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.n, args.dim, args.classes)
        return

    print(
        f"torch {torch.__version__} threads={torch.get_num_threads()}, numpy {np.__version__}; "
        f"N={args.n} d={args.dim} C={args.classes}, best of {args.repeats}"
    )
    h, y = next(make_features(args.n, args.dim, args.classes, 0))
    gen = torch.Generator().manual_seed(7)
    h2 = torch.tanh(h @ torch.randn(args.dim, args.dim, generator=gen) / args.dim**0.5) + 0.5 * torch.randn(
        args.n, args.dim, generator=gen
    )
    hn, h2n, yn = h.numpy().astype(np.float64), h2.numpy().astype(np.float64), y.numpy()
    w, b = classifier(args.dim, args.classes, 0)
    # CKA computes in float64: its GFLOP/s are judged against the float64 GEMM peak, measured now, same threads
    threads = torch.get_num_threads()
    peak64 = gemm_peak(threads, dtype=torch.float64)
    cka_flops = linear_cka_flops(args.n, args.dim, args.dim)
    mb_flops = minibatch_cka_flops(args.n, args.dim, args.dim)
    gemm = {}  # row name -> flops of its products (GEMM-bound rows only)

    rows = []
    for estimator in ("biased", "unbiased"):
        t_ours, v_ours, t_np, v_np = compare(
            lambda e=estimator: cka(h, h2, estimator=e),
            lambda e=estimator: feature_space_linear_cka(hn, h2n, debiased=e == "unbiased"),
            args.repeats,
        )
        rows.append(
            (
                f"linear CKA {estimator}",
                t_ours,
                "NumPy feature_space_linear_cka",
                t_np,
                f"|diff| {abs(v_ours - v_np):.1e}",
            )
        )
        gemm[f"linear CKA {estimator}"] = cka_flops

    rows.append(
        (
            "torch GEMM floor (3 products)",
            gemm_floor(h, h2, args.repeats),
            "linear CKA biased (ours)",
            rows[0][1],
            "ours − floor = centring and checks",
        )
    )
    gemm["torch GEMM floor (3 products)"] = 2.0 * args.n * 3 * args.dim * args.dim

    def minibatch():
        mb = MinibatchCKA()
        for start in range(0, args.n - 255, 256):  # full batches only
            mb.update(h[start : start + 256], h2[start : start + 256])
        return mb.compute()

    t_mb, v_mb = best_time(minibatch, args.repeats)
    rows.append(("minibatch CKA (B=256)", t_mb, "full unbiased CKA (ours)", rows[1][1], f"value {v_mb:.4f}"))
    gemm["minibatch CKA (B=256)"] = gemm["minibatch CKA, 1 pair"] = mb_flops
    try:
        import torch_cka  # the peer library, from the optional "bench" extra
    except ImportError:
        print("torch-cka is not importable (pip install 'phenomena[bench]'); skipping that comparison.")
    else:
        rows += torch_cka_rows(torch_cka, h, h2, args)

    t_ours, m_ours, t_np, m_np = compare(
        lambda: neural_collapse(h, y, w, b), lambda: numpy_nc(hn, yn, w.numpy(), b.numpy(), args.classes), args.repeats
    )
    rows.append(
        (
            "neural_collapse (all metrics)",
            t_ours,
            "NumPy per-class GEMM (NC1,3,4)",
            t_np,
            f"NC1 rel diff {abs(m_ours['nc1'] / m_np['nc1'] - 1):.1e}",
        )
    )
    k = min(args.papyan_n, args.n)
    t_ours_k, m_k = best_time(lambda: neural_collapse(h[:k], y[:k], w, b), args.repeats)
    t_pap, m_pap = best_time(lambda: papyan_demo_nc(hn[:k], yn[:k], w.numpy(), b.numpy(), args.classes), 1)
    rows.append(
        (
            f"neural_collapse, N={k}",
            t_ours_k,
            "Papyan demo loop (NumPy)",
            t_pap,
            f"NC1 rel diff {abs(m_k['nc1'] / m_pap['nc1'] - 1):.1e}",
        )
    )

    print(f"\n{'ours':32s} {'s':>8s}   {'baseline':32s} {'s':>8s} {'speed-up':>9s}  check")
    for name, t1, base, t2, note in rows:
        print(f"{name:32s} {t1:8.3f}   {base:32s} {t2:8.3f} {t2 / t1:8.1f}x  {note}")

    base = peak_rss("baseline", args)
    stream = peak_rss("streaming", args)
    inmem = peak_rss("in-memory", args)
    data_mib = args.n * args.dim * 4 / 2**20
    print(f"\npeak RSS above an import-only process (features are {data_mib:.0f} MiB as float32):")
    print(f"  streaming NC (batches of 1024, two passes): {stream - base:8.1f} MiB")
    print(f"  in-memory NC (features included):           {inmem - base:8.1f} MiB")

    summary = []
    for name, t1, base_name, t2, note in rows:
        fields = gemm_fields(gemm[name], t1, peak64) if name in gemm else {}
        if fields:
            note += f"; {gemm[name] / 1e9:.1f} GFLOP of products, float64 peak"
        summary.append(
            row(f"N={args.n} d={args.dim}, {threads} thread(s)", name, t1, base_name, t2, note=note, **fields)
        )
    write_summary(
        args.json,
        "representations",
        summary,
        threads=threads,
        peak_gflops_float64=peak64,
        peak_rss_mib={"streaming_nc": stream - base, "in_memory_nc": inmem - base, "features": data_mib},
    )


if __name__ == "__main__":
    main()
