"""Cue conflict: the image generator against images assembled pixel by pixel, Geirhos's shape bias against a count
by hand, the smoke pipeline, each control failing its checks on measured values, and quick on a held-out seed
(slow)."""

import math

import pytest
import torch

from phenomena.catalog.cue_conflict import ENTRY
from phenomena.data.cue_conflict import (
    GLYPH,
    PERIOD,
    cue_conflict,
    render_cue_images,
    shape_bias,
    shape_glyphs,
    texture_tiles,
)
from phenomena.errors import UserError
from phenomena.models.small_cnn import SmallCNN
from phenomena.training import train_ensemble


def _assemble_by_hand(image, shape, texture, shape_contrast, texture_contrast, size, jitter):
    """Search every texture offset and glyph position for the noiseless picture built pixel by pixel that equals
    ``image``; return how many match."""
    tiles, glyphs = texture_tiles().tolist(), shape_glyphs().tolist()
    centre = (size - GLYPH) // 2
    matches = 0
    for oy in range(PERIOD):
        for ox in range(PERIOD):
            for py in range(centre - jitter, centre + jitter + 1):
                for px in range(centre - jitter, centre + jitter + 1):
                    ok = True
                    for i in range(size):
                        for j in range(size):
                            v = 0.0
                            if texture >= 0:
                                v += texture_contrast * tiles[texture][(oy + i) % PERIOD][(ox + j) % PERIOD]
                            if shape >= 0 and py <= i < py + GLYPH and px <= j < px + GLYPH:
                                v += shape_contrast * glyphs[shape][i - py][j - px]
                            if abs(v - image[i][j]) > 1e-6:
                                ok = False
                                break
                        if not ok:
                            break
                    matches += ok
    return matches


@pytest.mark.parametrize(("shape", "texture"), [(0, 2), (3, 3), (1, -1), (-1, 4)])
def test_noiseless_images_are_a_tiled_texture_plus_a_placed_glyph(shape, texture):
    x = render_cue_images(
        torch.tensor([shape] * 3),
        torch.tensor([texture] * 3),
        size=14,
        shape_contrast=0.7,
        texture_contrast=0.3,
        noise=0.0,
        jitter=2,
        generator=torch.Generator().manual_seed(5),
    )
    for img in x[:, 0].tolist():
        assert _assemble_by_hand(img, shape, texture, 0.7, 0.3, 14, 2) >= 1


def test_textures_differ_under_every_shift_and_glyphs_are_distinct():
    tiles = texture_tiles()
    assert torch.all(tiles.sum((1, 2)) == 0)  # zero-mean ±1 patterns
    for a in range(len(tiles)):
        for b in range(a + 1, len(tiles)):
            dist = min(
                int((tiles[a].roll((i, j), (0, 1)) != tiles[b]).sum()) for i in range(PERIOD) for j in range(PERIOD)
            )
            assert dist >= 6
    glyphs = shape_glyphs()
    assert len({tuple(g.flatten().tolist()) for g in glyphs}) == len(glyphs)
    tiles.zero_()  # the tiles are drawn once per process: a caller's copy cannot change them
    assert torch.equal(texture_tiles().abs(), torch.ones(len(tiles), PERIOD, PERIOD))


def test_pixel_noise_has_the_requested_standard_deviation():
    x = render_cue_images(torch.full((400,), -1), torch.full((400,), -1), noise=0.35)
    assert x.mean().item() == pytest.approx(0, abs=0.01) and x.std().item() == pytest.approx(0.35, rel=0.02)


def test_shape_bias_is_geirhos_ratio_counted_by_hand():
    g = torch.Generator().manual_seed(0)
    pred, shape, texture = (torch.randint(0, 4, (500,), generator=g) for _ in range(3))
    n_shape = n_texture = 0
    for p, s, t in zip(pred.tolist(), shape.tolist(), texture.tolist(), strict=True):
        if s != t:  # cue-conflict trials only; decisions for neither cue do not count
            n_shape += p == s
            n_texture += p == t
    assert shape_bias(pred, shape, texture) == (n_shape / (n_shape + n_texture), n_shape, n_texture)
    assert math.isnan(shape_bias(shape, shape, shape)[0])  # no conflict trial: unmeasured


def test_training_cues_agree_unless_randomized_and_the_test_set_has_every_pair():
    d = cue_conflict(classes=4, n_train=800, n_test_per_pair=3, seed=1)
    assert torch.equal(d.meta["shape_train"], d.y_train) and torch.equal(d.meta["texture_train"], d.y_train)
    pairs = set(zip(d.y_test.tolist(), d.meta["texture_test"].tolist(), strict=True))
    assert pairs == {(s, t) for s in range(4) for t in range(4)} and len(d.y_test) == 48
    r = cue_conflict(classes=4, n_train=800, n_test_per_pair=3, randomize_cue="texture", randomize_fraction=1.0)
    agree = (r.meta["texture_train"] == r.y_train).float().mean().item()
    assert agree == pytest.approx(0.25, abs=0.05) and torch.equal(r.meta["shape_train"], r.y_train)
    with pytest.raises(UserError):
        cue_conflict(classes=6)


def test_small_cnn_init_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b, c = SmallCNN(4, seed=3), SmallCNN(4, seed=3), SmallCNN(4, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.readout.weight, c.readout.weight)
    assert a(torch.zeros(2, 1, 16, 16)).shape == (2, 4)


def test_the_ensemble_runs_vectorized_and_each_member_matches_its_solo_run():
    d = cue_conflict(classes=3, n_train=64, n_test_per_pair=2, seed=2)
    kw = dict(optimizer="adam", lr=3e-3, steps=4, batch_size=16, log_every=4)
    res = train_ensemble(lambda s: SmallCNN(3, channels=(4, 4, 4), seed=s), [7, 8], d, **kw)
    assert res.method == "vmap"
    for seed, net in zip([7, 8], res.models, strict=True):
        (solo,) = train_ensemble(
            lambda s: SmallCNN(3, channels=(4, 4, 4), seed=s), [seed], d, method="loop", **kw
        ).models
        for p, q in zip(net.parameters(), solo.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_pooled_shape_bias_is_the_ratio_of_summed_decisions_not_the_mean_of_ratios():
    g = torch.Generator().manual_seed(3)
    pred, shape, texture = (torch.randint(0, 4, (3, 200), generator=g) for _ in range(3))
    counts = [shape_bias(pred[k], shape[k], texture[k])[1:] for k in range(3)]
    n_shape, n_texture = sum(c[0] for c in counts), sum(c[1] for c in counts)
    assert shape_bias(pred.flatten(), shape.flatten(), texture.flatten()) == (
        n_shape / (n_shape + n_texture),
        n_shape,
        n_texture,
    )


def test_smoke_through_the_cli_measures_every_arm(cli_json):
    res = cli_json("run", "cue-conflict", "-p", "smoke")
    s = res["summary"]
    assert s["shape_bias_texture_easy"] < 0.2 and s["decodability_texture_texture_easy"] > 0.5  # chance 0.25
    for arm in ("texture_easy", "equal", "shape_easy", "augmented"):
        assert math.isfinite(s[f"shape_bias_{arm}"]) and s[f"cue_decisions_{arm}"] > 0.3
        members = [s[f"shape_bias_{arm}_member{k}"] for k in range(2)]
        assert s[f"shape_bias_{arm}_member_min"] == min(members) <= s[f"shape_bias_{arm}"] <= max(members)
    assert len(res["verdict"]["checks"]) == 5
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("control", ENTRY.controls, ids=lambda c: c.name)
def test_each_control_fails_its_checks_on_measured_values(cli_json, control):
    overrides = [a for k, v in control.overrides.items() for a in ("-s", f"{k}={v}")]
    res = cli_json("run", "cue-conflict", "-p", "smoke", *overrides)
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    for prefix in control.must_fail:
        (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
        assert isinstance(check["value"], float) and math.isfinite(check["value"]) and not check["passed"], check
    s = res["summary"]
    if control.name == "equal difficulty":
        assert s["shape_bias_texture_easy"] > 0.2  # the texture preference is gone with the difficulty gap
    else:
        assert s["aug_gain"] < 0.1 and s["shape_bias_augmented"] < 0.2  # texture stays the reliable cue


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "cue-conflict", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
