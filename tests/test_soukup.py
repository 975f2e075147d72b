"""Soukup & Pinetz: the textile generator, the patch sets, the VAE and the loss analysis."""

import numpy as np
import pytest
import torch
from PIL import Image

from adlib.data import textile
from adlib.models import soukup


# ---------------------------------------------------------------- generator

@pytest.mark.parametrize("pattern", sorted(textile.WEAVES))
def test_weave_is_deterministic_in_range_and_flaws_have_masks(pattern):
    a = textile.weave(pattern, 128, flaws=len(textile.FLAWS), seed=3)
    b = textile.weave(pattern, 128, flaws=len(textile.FLAWS), seed=3)
    assert a.image.shape == (128, 128) and a.image.dtype == np.float32
    assert 0 <= a.image.min() and a.image.max() <= 1
    np.testing.assert_array_equal(a.image, b.image)
    assert [kind for kind, _ in a.flaws] == list(textile.FLAWS)
    assert a.mask.any() and a.mask.mean() < 0.5
    clean = textile.weave(pattern, 128, seed=3)
    assert not clean.mask.any()


def test_each_flaw_changes_the_image_inside_its_mask_only():
    for kind in textile.FLAWS:
        clean = textile.weave("plain", 128, seed=5)
        flawed = textile.weave("plain", 128, flaws=[kind], seed=5)
        changed = np.abs(flawed.image - clean.image) > 1e-6
        assert changed.any(), kind
        assert not (changed & ~flawed.mask).any(), f"{kind} changed pixels outside its mask"


def test_weaves_differ_and_twill_has_diagonal_structure():
    plain = textile.weave("plain", 128, swirl=0, jitter=0, seed=0).image
    twill = textile.weave("twill", 128, swirl=0, jitter=0, seed=0).image
    assert np.abs(plain - twill).mean() > 0.02


def test_unknown_names_fail():
    with pytest.raises(ValueError, match="unknown weave"):
        textile.weave("satin")
    with pytest.raises(ValueError, match="unknown flaw"):
        textile.weave("plain", 128, flaws=["stain"])
    with pytest.raises(ValueError, match="unknown pattern"):
        textile.textile_patch_sets("satin")


@pytest.mark.parametrize("pattern", ["twill", "brick"])
def test_patch_sets_t_v_d(pattern):
    s = textile.textile_patch_sets(pattern, patch_size=32, n_train=20, n_valid=10, n_defect=12,
                                   n_select=5, web_size=128, n_flaws=3, seed=0)
    assert s.train.shape == (20, 1, 32, 32) and s.valid.shape == (10, 1, 32, 32)
    assert s.defect.shape[1:] == (1, 32, 32) and 0 < len(s.defect) <= 12
    assert 0 < len(s.select) <= 5
    assert s.defect_masks.shape == (len(s.defect), 32, 32)
    assert (s.defect_masks.reshape(len(s.defect), -1).sum(axis=1) >= 16).all()   # every D patch has a flaw


def test_patches_around_rejects_mismatched_mask_and_small_image():
    rng = np.random.default_rng(0)
    with pytest.raises(textile.PatchSetError, match="differs"):
        textile.patches_around(np.zeros((64, 64)), np.zeros((32, 64), bool), 32, 4, rng)
    with pytest.raises(textile.PatchSetError, match="smaller than the patch size"):
        textile.patches_around(np.zeros((20, 64)), np.zeros((20, 64), bool), 32, 4, rng)


# ---------------------------------------------------------------- MVTec layout: bad input

def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)


def _mvtec(root, size=96, mask_size=None, mask_value=255):
    rng = np.random.default_rng(0)
    cat = root / "cloth"
    for k in range(2):
        _write(cat / "train" / "good" / f"{k:03d}.png", rng.integers(0, 255, (size, size)))
        _write(cat / "test" / "good" / f"{k:03d}.png", rng.integers(0, 255, (size, size)))
    _write(cat / "test" / "hole" / "000.png", rng.integers(0, 255, (size, size)))
    m = mask_size or size
    mask = np.zeros((m, m))
    mask[m // 3: m // 2, m // 3: m // 2] = mask_value
    _write(cat / "ground_truth" / "hole" / "000_mask.png", mask)
    return cat


def test_mvtec_patch_sets(tmp_path):
    cat = _mvtec(tmp_path)
    s = textile.mvtec_patch_sets(cat, patch_size=32, n_train=10, n_valid=6, n_defect=8, n_select=4)
    assert s.train.shape == (10, 1, 32, 32) and s.valid.shape == (6, 1, 32, 32)
    assert 0 < len(s.defect) <= 8 and len(s.select) > 0


def test_mvtec_image_smaller_than_patch_names_the_file(tmp_path):
    cat = _mvtec(tmp_path, size=24)
    with pytest.raises(textile.PatchSetError, match=r"000\.png is 24×24 pixels, smaller than the patch size 32"):
        textile.mvtec_patch_sets(cat, patch_size=32, n_train=4, n_valid=2, n_defect=2, n_select=2)


def test_mvtec_mask_of_another_size_names_the_file(tmp_path):
    cat = _mvtec(tmp_path, size=96, mask_size=80)
    with pytest.raises(textile.PatchSetError, match=r"000_mask\.png is 80×80 but its image .*000\.png is 96×96"):
        textile.mvtec_patch_sets(cat, patch_size=32, n_train=4, n_valid=2, n_defect=2, n_select=2)


def test_mvtec_empty_defect_set_gives_the_count(tmp_path):
    cat = _mvtec(tmp_path, mask_value=0)              # a defective image whose mask is empty
    with pytest.raises(textile.PatchSetError, match=r"defect set D is empty \(0 of 1 "):
        textile.mvtec_patch_sets(cat, patch_size=32, n_train=4, n_valid=2, n_defect=2, n_select=2)


# ---------------------------------------------------------------- model

def test_vae_shapes_activations_and_losses():
    model = soukup.SoukupVAE(input_size=32, depth=3, base_channels=4, latent_dim=8, kl_weight=1e-5)
    convs = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride for c in convs] == [(2, 2)] * 3
    assert [c.out_channels for c in convs] == [4, 8, 16]                 # doubled at every layer
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert isinstance(model.decoder[-1], torch.nn.Tanh)
    assert all(isinstance(m, torch.nn.ReLU) for m in list(model.decoder)[1:-1:2])
    x = torch.rand(5, 1, 32, 32)
    recon = model(x)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1
    losses = model.losses(x)
    assert losses["reconstruction"].shape == (5,) and losses["latent"].shape == (5,)
    assert (losses["latent"] >= -1e-6).all()
    loss, logs = model.loss(x)
    assert loss.ndim == 0 and {"rec", "kl", "loss"} <= set(logs)
    with pytest.raises(ValueError, match="built for inputs"):
        model(torch.rand(2, 1, 64, 64))
    with pytest.raises(ValueError, match="multiple of 2\\*\\*depth"):
        soukup.SoukupVAE(input_size=36, depth=3)


def test_kl_is_zero_for_the_prior():
    mu, logvar = torch.zeros(3, 4), torch.zeros(3, 4)
    assert torch.allclose(soukup.SoukupVAE.kl(mu, logvar), torch.zeros(3))


def test_training_reduces_the_reconstruction_loss():
    torch.manual_seed(0)
    s = textile.textile_patch_sets("plain", patch_size=32, n_train=64, n_valid=8, n_defect=8, n_select=4,
                                   web_size=128, n_flaws=3)
    model = soukup.SoukupVAE(input_size=32, depth=3, base_channels=8, latent_dim=16)
    history = model.fit(torch.from_numpy(s.train), iterations=40, batch_size=16, progress=False)
    rec = history.series("rec")
    assert np.mean(rec[-5:]) < np.mean(rec[:5])


def test_time_scoring_reports_both_and_the_ratio():
    model = soukup.SoukupVAE(input_size=32, depth=3, base_channels=4, latent_dim=8)
    t = soukup.time_scoring(model, torch.rand(8, 1, 32, 32), repeats=3, warmup=1)
    assert t["encoder"] > 0 and t["full"] > 0
    assert t["speedup"] == pytest.approx(t["full"] / t["encoder"])


# ---------------------------------------------------------------- analysis

def test_cross_entropy_shared_edges_and_smoothing():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 500), rng.normal(0, 1, 500)
    far = rng.normal(100, 1, 500)
    edges = soukup.shared_edges([a, b, far], 20)
    # disjoint histograms: every bin of p costs -log2(eps) in q
    assert soukup.cross_entropy(a, far, edges, 1e-6) == pytest.approx(-np.log2(1e-6), rel=0.01)
    # H(p, q) >= H(p): similar samples give a small value, close to the entropy of p
    assert soukup.cross_entropy(a, b, edges, 1e-6) < 2
    table = soukup.cross_entropy_table({"T": a, "V": b, "D": far}, bins=20)
    assert set(table) == {"H_TV", "H_TD", "H_VD", "H_T", "H_V"} and table["H_TD"] > table["H_TV"]
    assert table["H_TV"] >= table["H_T"] - 1e-9          # H(p, q) >= H(p)


def test_bootstrap_interval_contains_the_estimate_for_clear_separation():
    rng = np.random.default_rng(0)
    normal, anomalous = rng.normal(0, 1, 200), rng.normal(2, 1, 200)
    r = soukup.bootstrap_auroc_ap(normal, anomalous, n_boot=100, seed=0)
    assert 0.85 < r.auroc < 0.97
    assert r.auroc_ci[0] <= r.auroc <= r.auroc_ci[1]
    assert r.ap_ci[0] <= r.ap_ci[1]


def test_separation_is_the_mean_auroc_of_both_losses():
    valid = {"reconstruction": np.zeros(4), "latent": np.array([0., 1, 2, 3])}
    defect = {"reconstruction": np.ones(4), "latent": np.array([0., 1, 2, 3])}
    assert soukup.separation(valid, defect) == pytest.approx((1.0 + 0.5) / 2)


def test_multiply_accumulates_of_a_mirrored_decoder_are_close_to_the_encoder():
    model = soukup.SoukupVAE(input_size=64, depth=4, base_channels=8, latent_dim=64)
    macs = soukup.multiply_accumulates(model)
    # first conv: 1·8·9 per output pixel, 32² output pixels
    assert macs["encoder"] >= 8 * 9 * 32 * 32
    assert 1.5 < macs["full"] / macs["encoder"] < 2.5
    assert macs["full"] == macs["encoder"] + macs["decoder"]


def test_defect_patches_carry_their_flaw_kind():
    s = textile.textile_patch_sets("twill", patch_size=32, n_train=8, n_valid=4, n_defect=20, n_select=4,
                                   web_size=160, n_flaws=5, seed=1)
    assert len(s.defect_kinds) == len(s.defect)
    assert set(s.defect_kinds) <= set(textile.FLAWS) and len(set(s.defect_kinds)) >= 3
    web = textile.weave("plain", 128, flaws=["knot"], seed=0)
    cy, cx = web.flaws[0][1]
    assert web.kind_at(max(cy - 8, 0), max(cx - 8, 0), 16) == "knot"
    assert web.kind_at(0, 0, 4) in ("none", "knot")


# ---------------------------------------------------------------- the chapter under smoke

@pytest.mark.slow
def test_chapter_smoke_run_writes_the_issue_keys(built):
    import json

    repo, _ = built       # the session's smoke build (tests/conftest.py) executed the chapter
    results = json.loads((repo / "book" / "generated" / "soukup_latent_vae.results.json").read_text())
    patterns = set(results["auroc"])
    assert patterns and set(results["average_precision"]) == patterns
    assert set(results["lambda_selected"]) == patterns
    rows = results["cross_entropy"]
    assert {(r["pattern"], r["loss"]) for r in rows} == {(p, l) for p in patterns for l in ("reconstruction", "latent")}
    for row in rows:
        assert all(row[k] >= 0 for k in ("H_TV", "H_TD", "H_VD"))
    for pattern in patterns:
        for loss in ("reconstruction", "latent"):
            assert 0 <= results["auroc"][pattern][loss] <= 1
    assert results["encoder_speedup"] > 0
    assert results["provenance"]["profile"] == "smoke"


@pytest.mark.slow
def test_chapter_rejects_a_patch_larger_than_the_web(tmp_path):
    from adlib.execute import execute

    with pytest.raises(SystemExit, match="patch_size=256 is larger than web_size=128"):
        execute("soukup_latent_vae", "smoke", tmp_path, extra={"patch_size": 256, "depth": 3})
