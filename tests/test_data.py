import gzip
import random

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA

from phenomena.data import digits, mnist, mnist1d, modular_arithmetic, teacher_student, with_label_noise
from phenomena.errors import UserError


@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
def test_modular_tables_are_right(op):
    p = 7
    ds = modular_arithmetic(p, op, train_fraction=0.5, seed=1)
    x = torch.cat([ds.x_train, ds.x_test])
    y = torch.cat([ds.y_train, ds.y_test])
    truth = {
        "+": lambda a, b: (a + b) % p,
        "-": lambda a, b: (a - b) % p,
        "*": lambda a, b: (a * b) % p,
        "/": lambda a, b: next(c for c in range(p) if (c * b) % p == a),  # brute-force inverse
    }[op]
    pairs = {(int(a), int(b)) for a, b in x}
    assert len(pairs) == len(x) == (p * (p - 1) if op == "/" else p * p)
    assert all(int(c) == truth(int(a), int(b)) for (a, b), c in zip(x, y, strict=True))
    assert ds.meta["vocab"] == p and ds.num_classes == p


def test_modular_split_is_seeded_and_bad_input_is_refused():
    a, b = modular_arithmetic(13, "+", 0.3, seed=4), modular_arithmetic(13, "+", 0.3, seed=4)
    assert torch.equal(a.x_train, b.x_train) and a.n_train == round(0.3 * 169)
    assert not torch.equal(a.x_train, modular_arithmetic(13, "+", 0.3, seed=5).x_train)
    for kwargs, msg in [
        ({"op": "%"}, "unknown modular operation"),
        ({"op": "/", "p": 12}, "prime"),
        ({"train_fraction": 1.0}, "strictly between"),
    ]:
        with pytest.raises(UserError, match=msg):
            modular_arithmetic(**{"p": 13, **kwargs})


def test_label_noise():
    ds = modular_arithmetic(11, "+", 0.8, seed=0)
    noisy = with_label_noise(ds, 0.25, seed=3, mode="other")
    changed = (noisy.y_train != ds.y_train).nonzero().flatten()
    assert torch.equal(changed, noisy.meta["noisy"])  # "other": every chosen label is wrong
    assert len(changed) == round(0.25 * ds.n_train) and torch.equal(noisy.y_test, ds.y_test)
    anymode = with_label_noise(ds, 0.25, seed=3, mode="any")
    assert (anymode.y_train != ds.y_train).sum() <= len(changed)
    assert with_label_noise(ds, 0.0) is ds
    with pytest.raises(UserError):
        with_label_noise(ds, 1.5)


def test_mnist1d_matches_the_package_and_leaves_global_rngs_alone(tmp_path):
    from mnist1d.data import get_dataset_args, make_dataset

    random.seed(123)
    np.random.seed(123)
    expected_py, expected_np = random.random(), np.random.rand()
    random.seed(123)
    np.random.seed(123)
    ds = mnist1d(num_samples=200, train_split=0.75, seed=7, cache_dir=tmp_path)
    assert random.random() == expected_py and np.random.rand() == expected_np
    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = 200, 0.75, 7
    raw = make_dataset(args)
    assert np.allclose(ds.x_train.numpy(), raw["x"], atol=1e-6) and np.array_equal(ds.y_test.numpy(), raw["y_test"])
    assert ds.x_train.shape == (150, 40) and len(list(tmp_path.glob("mnist1d-*.npz"))) == 1
    cached = mnist1d(num_samples=200, train_split=0.75, seed=7, cache_dir=tmp_path)
    assert torch.equal(cached.x_train, ds.x_train)
    fresh = mnist1d(num_samples=200, train_split=0.75, seed=7, cache_dir=tmp_path / "new" / "folder")
    assert torch.equal(fresh.x_train, ds.x_train) and not list((tmp_path / "new" / "folder").glob("*.tmp.npz"))


def test_digits_and_teacher_student():
    d = digits(0.8, seed=0)
    assert d.x_train.shape[1] == 64 and d.n_train + len(d.x_test) == 1797 and d.x_train.max() <= 1
    ts = teacher_student(n_train=50, n_test=20, dim=5, outputs=2, noise_std=0.0, seed=1)
    again = teacher_student(n_train=50, n_test=20, dim=5, outputs=2, noise_std=0.0, seed=1)
    assert torch.equal(ts.y_train, again.y_train) and ts.y_train.shape == (50, 2) and ts.num_classes is None


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_reader_on_generated_idx(tmp_path):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (50, 28, 28)), rng.integers(0, 10, 50)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    ds = mnist(tmp_path, test_fraction=0.2, seed=0)
    assert ds.x_train.shape == (40, 784) and len(ds.x_test) == 10
    both = torch.cat([ds.x_train, ds.x_test]) * 255
    assert sorted(both.round().sum(1).tolist()) == sorted(images.reshape(50, -1).sum(1).astype(float).tolist())
    with pytest.raises(UserError, match="does not exist"):
        mnist(tmp_path / "nope")
    with pytest.raises(UserError, match="has no t10k-images"):
        mnist(tmp_path.parent)


@pytest.mark.skipif(not (SHARED_DATA / "mnist").exists(), reason="shared MNIST test set not present")
def test_mnist_reader_on_the_real_test_set():
    ds = mnist(SHARED_DATA / "mnist", test_fraction=0.2)
    assert ds.x_train.shape == (8000, 784) and len(ds.x_test) == 2000
    assert torch.bincount(torch.cat([ds.y_train, ds.y_test])).tolist()[:2] == [980, 1135]
