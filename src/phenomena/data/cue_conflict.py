"""Synthetic cue-conflict images: a class-tied shape and a class-tied texture in one grayscale picture, a CPU proxy
for Geirhos et al.'s (2019) cue-conflict stimuli."""

from __future__ import annotations

import functools

import torch

from phenomena.data.dataset import Dataset
from phenomena.errors import UserError

GLYPH = 7  # side of a shape glyph, pixels
PERIOD = 4  # side of a texture tile, pixels (textures are tiled with a random cyclic offset)
MAX_CLASSES = 5
SHAPE_NAMES = ("ring", "plus", "cross", "square", "diamond")


def shape_glyphs() -> torch.Tensor:
    """The five binary shape glyphs, (5, 7, 7): a ring, a plus, a diagonal cross, a square outline, a diamond."""
    r = torch.arange(GLYPH, dtype=torch.float32) - (GLYPH - 1) / 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    rad = (yy**2 + xx**2).sqrt()
    ring = ((rad > 2.2) & (rad < 3.4)).float()
    plus = ((yy.abs() < 0.6) | (xx.abs() < 0.6)).float()
    cross = (((yy - xx).abs() < 0.6) | ((yy + xx).abs() < 0.6)).float()
    square = (yy.abs().maximum(xx.abs()) > 2.4).float()
    diamond = ((yy.abs() + xx.abs() - 3).abs() < 0.6).float()
    return torch.stack([ring, plus, cross, square, diamond])


def texture_tiles() -> torch.Tensor:
    """The five ±1 texture tiles, (5, 4, 4): fixed zero-mean binary patterns, pairwise different under every cyclic
    shift by at least 6 of 16 pixels (drawn once from a fixed generator, so they are constants of the data set)."""
    return _drawn_tiles().clone()


@functools.cache
def _drawn_tiles() -> torch.Tensor:
    # the rejection draw compares every cyclic shift of every candidate pixel by pixel, and every rendering needs
    # the tiles: drawn once per process
    g = torch.Generator().manual_seed(20190)
    tiles: list[torch.Tensor] = []
    while len(tiles) < MAX_CLASSES:
        t = torch.ones(PERIOD * PERIOD)
        t[torch.randperm(PERIOD * PERIOD, generator=g)[: PERIOD * PERIOD // 2]] = -1
        t = t.view(PERIOD, PERIOD)
        shifts = [t.roll((a, b), (0, 1)) for a in range(PERIOD) for b in range(PERIOD)]
        if all(min(int((s != u).sum()) for s in shifts) >= 6 for u in tiles):
            tiles.append(t)
    return torch.stack(tiles)


def render_cue_images(
    shape_labels: torch.Tensor,
    texture_labels: torch.Tensor,
    *,
    size: int = 16,
    shape_contrast: float = 1.0,
    texture_contrast: float = 1.0,
    noise: float = 0.35,
    jitter: int = 3,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Images carrying the shape of ``shape_labels`` and the texture of ``texture_labels``.

    Each image is ``texture_contrast × T + shape_contrast × S + noise × N``: T is the class's ±1 texture tile
    (:func:`texture_tiles`) repeated over the whole image from a random cyclic offset, S the class's binary glyph
    (:func:`shape_glyphs`) placed at the centre moved by a random offset of up to ``jitter`` pixels in each
    direction, N standard Gaussian pixel noise. A label of −1 leaves that cue out (contrast 0 for that image).

    Args:
        shape_labels, texture_labels: integer classes (N,) in [0, 5) or −1 for "no cue".
        size: image side (at least 7 + 2·jitter).
        shape_contrast, texture_contrast: amplitude of each cue: with ``noise`` it sets how easily it is decoded.
        noise: standard deviation of the pixel noise.
        jitter: largest shift of the glyph from the centre, pixels.
        generator: the source of offsets and noise.

    Returns:
        A float tensor (N, 1, size, size).

    Example:
        >>> x = render_cue_images(torch.tensor([0, 1]), torch.tensor([2, -1]), noise=0.0)
        >>> tuple(x.shape)
        (2, 1, 16, 16)
    """
    shape_labels, texture_labels = torch.as_tensor(shape_labels), torch.as_tensor(texture_labels)
    if shape_labels.shape != texture_labels.shape or shape_labels.dim() != 1:
        raise UserError("shape_labels and texture_labels must be 1-D and of the same length")
    if size < GLYPH + 2 * jitter or jitter < 0:
        raise UserError(f"size must be at least {GLYPH} + 2·jitter and jitter >= 0; got size {size}, jitter {jitter}")
    for name, lab in (("shape", shape_labels), ("texture", texture_labels)):
        if len(lab) and (lab.min() < -1 or lab.max() >= MAX_CLASSES):
            raise UserError(f"{name} labels must lie in [-1, {MAX_CLASSES}); got {lab.min()}..{lab.max()}")
    n = len(shape_labels)
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    reps = size // PERIOD + 2
    tiled = texture_tiles().repeat(1, reps, reps)  # (5, reps·P, reps·P)
    off = torch.randint(0, PERIOD, (n, 2), generator=g)
    rows = (off[:, :1] + torch.arange(size))[:, :, None]  # (n, size, 1)
    cols = (off[:, 1:] + torch.arange(size))[:, None, :]  # (n, 1, size)
    tex = tiled[texture_labels.clamp(min=0)[:, None, None], rows, cols] * (texture_labels >= 0)[:, None, None]
    glyphs = shape_glyphs()[shape_labels.clamp(min=0)] * (shape_labels >= 0)[:, None, None]
    pos = torch.randint(-jitter, jitter + 1, (n, 2), generator=g) + (size - GLYPH) // 2
    shp = torch.zeros(n, size, size)
    idx = torch.arange(GLYPH)
    r = (pos[:, :1] + idx)[:, :, None].expand(n, GLYPH, GLYPH)
    c = (pos[:, 1:] + idx)[:, None, :].expand(n, GLYPH, GLYPH)
    shp[torch.arange(n)[:, None, None].expand(n, GLYPH, GLYPH), r, c] = glyphs
    eps = torch.randn(n, size, size, generator=g)
    return (texture_contrast * tex + shape_contrast * shp + noise * eps).unsqueeze(1)


def cue_conflict(
    classes: int = 4,
    n_train: int = 2000,
    n_test_per_pair: int = 50,
    *,
    size: int = 16,
    shape_contrast: float = 1.0,
    texture_contrast: float = 1.0,
    noise: float = 0.35,
    jitter: int = 3,
    randomize_cue: str = "none",
    randomize_fraction: float = 0.0,
    seed: int = 0,
) -> Dataset:
    """A training set whose shape and texture agree, and a test set of every (shape, texture) pair.

    Training image i has shape = texture = its label y_i, except that a ``randomize_fraction`` of them get the
    ``randomize_cue`` ("texture" or "shape") drawn uniformly over the classes instead, independently of the label
    (a Stylized-ImageNet-like augmentation when it is the texture). The test set holds ``n_test_per_pair`` images
    of each of the ``classes²`` pairs: the diagonal is cue-aligned, the rest are cue-conflict images; ``y_test`` is
    the shape class and ``meta["texture_test"]`` the texture class of each. The cue-alone variants (the other
    cue left out, for decodability) are ``render_cue_images`` with −1 labels.

    Args:
        classes: number of classes (2 to 5).
        n_train: training images.
        n_test_per_pair: test images per (shape, texture) pair.
        size, shape_contrast, texture_contrast, noise, jitter: as in :func:`render_cue_images`.
        randomize_cue: "none", "texture" or "shape".
        randomize_fraction: fraction of training images whose ``randomize_cue`` is drawn at random.
        seed: seeds every draw (labels, offsets, noise).

    Returns:
        A :class:`Dataset` of (N, 1, size, size) images; ``meta`` has ``texture_train`` (the texture class of each
        training image), ``shape_train`` and ``texture_test``.

    Example:
        >>> d = cue_conflict(classes=3, n_train=30, n_test_per_pair=2)
        >>> d.x_train.shape[1:], len(d.y_test), int((d.y_test != d.meta["texture_test"]).sum())
        (torch.Size([1, 16, 16]), 18, 12)
    """
    if not 2 <= classes <= MAX_CLASSES:
        raise UserError(f"classes must lie in [2, {MAX_CLASSES}]; got {classes}")
    if randomize_cue not in ("none", "texture", "shape") or not 0.0 <= randomize_fraction <= 1.0:
        raise UserError("randomize_cue must be none, texture or shape, and randomize_fraction in [0, 1]")
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n_train,), generator=g)
    shape_train, texture_train = y.clone(), y.clone()
    if randomize_cue != "none":
        pick = torch.rand(n_train, generator=g) < randomize_fraction
        drawn = torch.randint(0, classes, (n_train,), generator=g)
        target = texture_train if randomize_cue == "texture" else shape_train
        target[pick] = drawn[pick]
    kw = dict(size=size, shape_contrast=shape_contrast, texture_contrast=texture_contrast, noise=noise, jitter=jitter)
    x_train = render_cue_images(shape_train, texture_train, generator=g, **kw)
    pairs = torch.cartesian_prod(torch.arange(classes), torch.arange(classes))
    shape_test = pairs[:, 0].repeat_interleave(n_test_per_pair)
    texture_test = pairs[:, 1].repeat_interleave(n_test_per_pair)
    x_test = render_cue_images(shape_test, texture_test, generator=g, **kw)
    meta = {
        "name": "cue-conflict",
        "num_classes": classes,
        "input": "features",
        "shape_train": shape_train,
        "texture_train": texture_train,
        "texture_test": texture_test,
    }
    return Dataset(x_train, y, x_test, shape_test, meta)


def shape_bias(pred: torch.Tensor, shape: torch.Tensor, texture: torch.Tensor) -> tuple[float, int, int]:
    """Geirhos et al.'s (2019) shape bias on cue-conflict trials: shape decisions / (shape + texture decisions).

    Only trials whose shape and texture classes differ count, and of those only the ones where the prediction is one
    of the two cues' classes.

    Args:
        pred, shape, texture: predicted class, shape class and texture class of each test image (N,).

    Returns:
        (shape bias, number of shape decisions, number of texture decisions); the bias is nan with no decision.

    Example:
        >>> shape_bias(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 0, 2, 1]), torch.tensor([1, 1, 2, 0]))
        (0.5, 1, 1)
    """
    conflict = shape != texture
    n_shape = int(((pred == shape) & conflict).sum())
    n_texture = int(((pred == texture) & conflict).sum())
    total = n_shape + n_texture
    return (n_shape / total if total else float("nan")), n_shape, n_texture
