"""Soukup & Pinetz: the textile generator, the patch sets, the VAE and the loss analysis, the
``soukup_vae`` detector, the chapter's experiments and figures (adlib.papers.soukup) and every
branch of its verdict."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from adlib import detectors, metrics, patches
from adlib import params as P
from adlib.data import textile
from adlib.models import soukup
from adlib.models.soukup import Reliability
from adlib.papers import soukup as paper

matplotlib.use("Agg")


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
    assert r.f1_max == metrics.f1_max(np.r_[np.zeros(200), np.ones(200)], np.r_[normal, anomalous])


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


# ---------------------------------------------------------------- the detector

TINY = {"patch": 16, "depth": 2, "base_channels": 2, "latent_dim": 4}


def tiny_detector(seed=0, iterations=3, images=None, **hyper):
    images = torch.rand(12, 1, 16, 16) if images is None else images
    detector = detectors.get("soukup_vae", channels=images.shape[1], seed=seed, **{**TINY, **hyper})
    return detector.fit(images, iterations=iterations, batch_size=4, progress=False)


def test_a_patch_sized_input_is_one_patch():
    detector = tiny_detector()
    test = torch.rand(5, 1, 16, 16)
    prediction, losses = detector.predict(test), detector.patch_losses(test)
    np.testing.assert_allclose(prediction.scores, losses["reconstruction"], rtol=1e-6)
    np.testing.assert_allclose(prediction.extra["latent"], losses["latent"], rtol=1e-6)
    np.testing.assert_allclose(prediction.maps, np.broadcast_to(losses["reconstruction"][:, None, None],
                                                                (5, 16, 16)), rtol=1e-5)
    assert (losses["latent"] >= -1e-6).all()


def test_a_whole_image_scores_its_worst_grid_patch():
    detector = tiny_detector(images=torch.rand(4, 1, 40, 40))
    assert detector.grid_stride == 8
    test = torch.rand(3, 1, 40, 40)
    prediction = detector.predict(test)
    tiles = patches.grid_patches(patches.pad_to_grid(test, 16, 8), 16, 8)     # 4 × 4 tiles, no padding
    losses = detector.patch_losses(tiles)
    np.testing.assert_allclose(prediction.scores, losses["reconstruction"].reshape(3, 16).max(axis=1), rtol=1e-6)
    np.testing.assert_allclose(prediction.extra["latent"], losses["latent"].reshape(3, 16).max(axis=1), rtol=1e-6)
    assert prediction.maps.shape == (3, 40, 40)
    # the top-left pixel lies in the first tile only
    np.testing.assert_allclose(prediction.maps[:, 0, 0], losses["reconstruction"].reshape(3, 16)[:, 0], rtol=1e-5)


def test_images_smaller_than_a_patch_are_padded():
    detector = tiny_detector(images=torch.rand(4, 3, 10, 12))
    prediction = detector.predict(torch.rand(2, 3, 10, 12))
    assert prediction.maps.shape == (2, 10, 12) and np.isfinite(prediction.scores).all()


def test_refitting_longer_from_the_same_seed_repeats_the_shorter_run_first():
    """What the chapter relies on: the final model's first steps are the search model's."""
    images = torch.rand(12, 1, 16, 16)
    short, long = tiny_detector(iterations=3, images=images), tiny_detector(iterations=6, images=images)
    assert long.history.losses[:3] == short.history.losses


def test_bad_settings_and_inputs_fail_with_a_message():
    with pytest.raises(ValueError, match="multiple of 2\\*\\*depth"):
        detectors.get("soukup_vae", patch=36, depth=3)
    with pytest.raises(ValueError, match="stride"):
        detectors.get("soukup_vae", stride=0)
    with pytest.raises(ValueError, match="kl_weight"):
        detectors.get("soukup_vae", kl_weight=-1.0)
    with pytest.raises(RuntimeError, match="fit"):
        detectors.get("soukup_vae", **TINY).patch_losses(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="16×16"):
        tiny_detector().patch_losses(torch.rand(2, 1, 32, 32))


def test_speed_helpers_of_the_detector():
    detector = tiny_detector()
    timing = detector.time_scoring(torch.rand(4, 1, 16, 16), repeats=2, warmup=0)
    assert timing["speedup"] == pytest.approx(timing["full"] / timing["encoder"])
    macs, counts = detector.multiply_accumulates(), detector.parameter_counts()
    assert macs["full"] == macs["encoder"] + macs["decoder"]
    assert 0 < counts["encoder"] < counts["all"]
    assert detector.reconstruct(torch.rand(2, 1, 16, 16)).shape == (2, 1, 16, 16)


# ---------------------------------------------------------------- the chapter's experiments

@pytest.fixture(scope="module")
def tiny_sets():
    return {name: textile.textile_patch_sets(name, patch_size=16, n_train=12, n_valid=8, n_defect=10, n_select=6,
                                             web_size=96, n_flaws=4, seed=0) for name in ("plain", "twill")}


@pytest.fixture(scope="module")
def tiny_search(tiny_sets):
    return paper.lambda_search(tiny_sets, [1e-5, 1e-3], seed=0, iterations=2, batch_size=4, device="cpu",
                               patch=16, depth=2, base_channels=2, latent_dim=4)


def test_lambda_search_trains_one_detector_per_pattern_and_lambda(tiny_sets, tiny_search):
    assert set(tiny_search.detectors) == {(n, lam) for n in tiny_sets for lam in (1e-5, 1e-3)}
    assert len(tiny_search.table) == 4 and tiny_search.table["separation (V vs D_sel)"].between(0, 1).all()
    assert tiny_search.separation_table().shape == (2, 2)
    for name, lam in tiny_search.selected.items():
        best = tiny_search.table[tiny_search.table.pattern == name]["separation (V vs D_sel)"].max()
        row = tiny_search.table[(tiny_search.table.pattern == name) & (tiny_search.table["λ"] == lam)]
        assert row["separation (V vs D_sel)"].item() == best
    scores = tiny_search.scores["plain", 1e-5]
    assert set(scores) == {"T", "V", "D", "D_sel"}
    assert scores["V"]["latent"].shape == (8,) and scores["D_sel"]["reconstruction"].shape == (len(tiny_sets["plain"].select),)


def test_tables_of_the_chapter(tiny_sets, tiny_search):
    scores = {name: paper.set_scores(tiny_search.detectors[name, lam], tiny_sets[name])
              for name, lam in tiny_search.selected.items()}
    ce = paper.cross_entropy(scores, tiny_search.selected, bins=5, epsilon=1e-6)
    assert len(ce) == 4 and (ce[["H_TV", "H_TD", "H_VD"]] >= 0).all().all()
    table = paper.table1(ce)
    assert list(table["paper pattern"]) == ["Pattern 1", "Pattern 1", "Pattern 2", "Pattern 2"]
    assert table["H_TD (paper)"].tolist() == [20.35, 7.64, 19.70, 6.98]
    rows = paper.headline(table)
    assert len(rows) == 4 and rows[0]["published"] == 20.35
    assert list(paper.kl_table(ce).columns[2:]) == ["H(T,V) − H(T)", "H(T,D) − H(T)", "H(V,D) − H(V)"]
    rel = paper.reliability(scores, n_boot=3, seed=0)
    assert set(rel) == {(n, loss) for n in scores for loss in paper.LOSSES}
    results = paper.reliability_results(rel)
    assert results["auroc"]["plain"]["latent"] == rel["plain", "latent"].auroc
    assert len(results["auroc_ci"]["twill"]["reconstruction"]) == 2
    assert len(paper.reliability_table(rel)) == 4 and results["f1_max"]["plain"]["latent"] == rel["plain", "latent"].f1_max
    renamed = {("mvtec:bottle", loss): r for (n, loss), r in rel.items() if n == "plain"}
    records = paper.mvtec_records({**rel, **renamed}, {})         # only the real categories, patch level
    assert {r["category"] for r in records} == {"bottle"} and len(records) == 2
    assert all(r["level"] == "patch (D vs V)" and r["health"] == "not recorded" for r in records)
    by_flaw = paper.auroc_by_flaw(tiny_sets, scores)
    assert set(by_flaw.columns) >= {"pattern", "flaw", "D patches", "AUROC reconstruction", "AUROC latent"}
    assert (by_flaw["D patches"] >= 2).all()
    assert set(paper.latent_ratio(scores)) == set(scores)
    assert len(paper.gaussian_fits(scores)) == 2 * 2 * 3
    counts = paper.tally(rel, ce, list(scores))
    assert counts["patterns"] == 2 and counts["table1_cases"] == 4
    final = {name: tiny_search.detectors[name, lam] for name, lam in tiny_search.selected.items()}
    figures = [paper.data_figure(tiny_sets), paper.training_figure(final, tiny_search.selected, 1),
               paper.reconstruction_figure(tiny_sets, final), paper.histogram_figure(scores, tiny_search.selected),
               paper.roc_figure(scores, rel), paper.lambda_frame(tiny_search, 1e-3)[0]]
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figures)
    assert "λ = 0.001" in paper.lambda_frame(tiny_search, 1e-3)[1]
    assert list(paper.timing_table({"encoder": 0.001, "full": 0.003})["median ms per batch"]) == [1.0, 3.0]


def test_published_table_and_the_paper_lambda():
    published = paper.published_table()
    assert len(published) == 4 and "H_VD (paper)" in published
    assert paper.paper_lambda_index([1e-7, 1e-5, 1e-3]) == 1
    assert paper.paper_lambda_index([1e-4, 1e-1]) == 0


def test_load_patch_sets_without_patterns_or_data():
    sets = paper.load_patch_sets(["brick"], None, patch_size=16, n_train=4, n_valid=2, n_defect=3, n_select=2,
                                 web_size=96, n_flaws=2, pitch=8.0, real_scale=1.0, real_max_images=2, seed=0)
    assert list(sets) == ["brick"] and len(paper.dataset_table(sets)) == 1


@pytest.mark.parametrize("change,message", [
    ({"patch_size": 36}, "multiple of 2\\*\\*depth"),
    ({"lambdas": []}, "lambdas"),
    ({"lambdas": [1e-5, "a"]}, "lambdas"),
    ({"final_iterations": 1}, "final_iterations=1 must be >= iterations=2"),
    ({"patch_size": 256, "depth": 3}, "patch_size=256 is larger than web_size=128"),
    ({"patterns": []}, "nothing to run"),
])
def test_check_parameters(change, message):
    good = {"patch_size": 32, "depth": 3, "lambdas": [1e-3, 1e-5], "iterations": 2, "final_iterations": 3,
            "patterns": ["twill"], "web_size": 128}
    assert paper.check_parameters(good, None) == [1e-5, 1e-3]
    with pytest.raises(P.ParameterError, match=message):
        paper.check_parameters({**good, **change}, None)
    assert set(good) <= set(paper.parameter_specs())


# ---------------------------------------------------------------- the verdict, branch by branch

def r(auroc, low, high):
    return Reliability(auroc, 0.5, (low, high), (0.4, 0.6))


CLEAR_REC = (r(0.95, 0.93, 0.97), r(0.60, 0.55, 0.65))     # reconstruction clearly better
CLEAR_LAT = (r(0.55, 0.50, 0.60), r(0.90, 0.86, 0.94))     # latent clearly better
OVERLAP_REC = (r(0.70, 0.60, 0.80), r(0.65, 0.55, 0.75))   # reconstruction better, intervals overlap
OVERLAP_LAT = (r(0.62, 0.55, 0.70), r(0.66, 0.58, 0.74))   # latent better, intervals overlap


def ce_of(names, rec_larger=True):
    rows = []
    for name in names:
        big, small = (12.0, 6.0) if rec_larger else (6.0, 12.0)
        rows += [{"pattern": name, "loss": "reconstruction", "H_TD": big, "H_VD": big + 1},
                 {"pattern": name, "loss": "latent", "H_TD": small, "H_VD": small + 1}]
    return pd.DataFrame(rows)


def verdict_of(cases, ratios=None, ce=None, speedup=3.0, selected=None):
    names = [f"p{k}" for k in range(len(cases))]
    rel = {}
    for name, (rec, lat) in zip(names, cases):
        rel[name, "reconstruction"], rel[name, "latent"] = rec, lat
    ratios = ratios or {n: 1.5 for n in names}
    selected = selected or {n: 1e-5 for n in names}
    return paper.verdict(rel, ce_of(names) if ce is None else ce, ratios, selected, speedup, "cpu")


@pytest.mark.parametrize("cases, counts", [
    ([CLEAR_REC, CLEAR_REC], "better on 2 of 2 patterns (2 with non-overlapping AUROC intervals), the latent loss "
                             "with non-overlapping intervals on 0"),
    ([CLEAR_REC, CLEAR_REC, OVERLAP_LAT], "better on 2 of 3 patterns (2 with"),
    ([OVERLAP_REC, OVERLAP_LAT], "better on 1 of 2 patterns (0 with"),
    ([CLEAR_REC, CLEAR_LAT], "better on 1 of 2 patterns (1 with non-overlapping AUROC intervals), the latent loss "
                             "with non-overlapping intervals on 1"),
])
def test_verdict_counts_the_patterns_and_leaves_the_status_to_the_claims(cases, counts):
    lines = verdict_of(cases)
    assert lines[0].startswith("**Per pattern**") and counts in lines[0]
    assert not any(word in lines[0] for word in ("holds", "does not hold", "Mixed"))
    assert len(lines) == 1 + len(cases) + 3


def test_verdict_pattern_lines_say_which_loss_separates_better():
    assert "The reconstruction loss separates defects better (clearly)." in verdict_of([CLEAR_REC, CLEAR_REC])[1]
    assert "The latent loss separates defects better (intervals overlap)." in \
        verdict_of([CLEAR_REC, CLEAR_REC, OVERLAP_LAT])[3]
    assert "The latent loss separates defects better (clearly)." in verdict_of([CLEAR_LAT, OVERLAP_REC])[1]


def test_verdict_pattern_lines_word_the_mean_latent_loss():
    lines = verdict_of([CLEAR_REC] * 3, ratios={"p0": 1.02, "p1": 1.4, "p2": 0.8})
    assert "1.02× that of V (not larger on average: goes against the paper's" in lines[1]
    assert "1.40× that of V (larger on average, as the paper found)" in lines[2]
    assert "0.80× that of V (smaller on average: goes against the paper's" in lines[3]
    assert "H(V,D) 13.00 vs 7.00 bits" in lines[1] and "(λ = 1e-05)" in lines[1]


def test_verdict_table1_line():
    names = ["p0", "p1"]
    assert "in all 4 cases, as in the paper (4 of 4)" in verdict_of([CLEAR_REC] * 2)[-3]
    assert "in none of the 4 cases" in verdict_of([CLEAR_REC] * 2, ce=ce_of(names, rec_larger=False))[-3]
    mixed = pd.concat([ce_of(names[:1]), ce_of(names[1:], rec_larger=False)])
    assert "in 2 of 4 cases (paper: 4 of 4" in verdict_of([CLEAR_REC] * 2, ce=mixed)[-3]


def test_verdict_speed_line():
    line = verdict_of([CLEAR_REC], speedup=3.0)[-2]
    assert "3.00× faster than the full model on `cpu` (the paper: \"more than 2×\"; the claims table decides" in line
    assert "holds" not in line


def test_verdict_lambda_line():
    both = {"p0": 1e-5, "p1": 1e-5}
    assert "on all 2 patterns, as the paper did" in verdict_of([CLEAR_REC] * 2, selected=both)[-1]
    assert "on none of the 2 patterns (1e-07, 0.001;" in \
        verdict_of([CLEAR_REC] * 2, selected={"p0": 1e-7, "p1": 1e-3})[-1]
    assert "on 1 of 2 patterns (paper: on both" in verdict_of([CLEAR_REC] * 2, selected={"p0": 1e-5, "p1": 1e-3})[-1]
    assert verdict_of([CLEAR_REC], selected={"p0": 1e-5})[-1].endswith("which a one-class setting lacks.")


def test_verdict_needs_a_pattern_and_tally_counts():
    with pytest.raises(ValueError, match="at least one pattern"):
        paper.verdict({}, ce_of([]), {}, {}, 3.0, "cpu")
    names = ["p0", "p1", "p2"]
    rel = {}
    for name, (rec, lat) in zip(names, [CLEAR_REC, CLEAR_LAT, OVERLAP_REC]):
        rel[name, "reconstruction"], rel[name, "latent"] = rec, lat
    assert paper.tally(rel, ce_of(names), names) == {
        "patterns": 3, "reconstruction_better": 2, "reconstruction_clearly_better": 1, "latent_clearly_better": 1,
        "table1_cases": 6, "table1_reconstruction_larger": 6, "table1_ties": 0, "table1_latent_larger": 0,
        "table1_split_driven": 0}


from adlib.health import Health  # noqa: E402

SICK = Health("under-trained", {"tail_drop": 0.2}, ["loss still falling"])


def test_verdict_inconclusive_for_a_pattern_whose_model_did_not_learn():
    names = ["p0", "p1"]
    rel = {}
    for name, (rec, lat) in zip(names, [CLEAR_REC, CLEAR_LAT]):
        rel[name, "reconstruction"], rel[name, "latent"] = rec, lat
    lines = paper.verdict(rel, ce_of(names), {n: 1.5 for n in names}, {n: 1e-5 for n in names}, 3.0, "cpu",
                          healths={"p0": Health("healthy"), "p1": SICK})
    assert lines[2].startswith("- **p1** (λ = 1e-05): inconclusive (model of p1 under-trained)")
    assert "better on 1 of 1 patterns" in lines[0] and "1 pattern(s) left out" in lines[0]
    assert "in all 2 cases" in lines[3]                          # only p0's Table I cases count
    lines = paper.verdict(rel, ce_of(names), {n: 1.5 for n in names}, {n: 1e-5 for n in names}, 3.0, "cpu",
                          healths={"p0": SICK, "p1": Health("collapsed", {}, ["flat"])})
    assert lines[0].startswith("**Inconclusive**") and "model of p1 collapsed" in lines[0]
    assert lines[3] == "- **Table I**: inconclusive (no usable model)."


def test_verdict_lambda_line_inconclusive_when_a_search_model_did_not_learn():
    rel = {("p0", "reconstruction"): CLEAR_REC[0], ("p0", "latent"): CLEAR_REC[1]}
    lines = paper.verdict(rel, ce_of(["p0"]), {"p0": 1.5}, {"p0": 1e-5}, 3.0, "cpu",
                          search_healths={("p0", 1e-5): Health("healthy"), ("p0", 1e-3): SICK})
    assert lines[-1].startswith("- **λ search**: inconclusive (λ=0.001 on p0 under-trained)")
    ok = paper.verdict(rel, ce_of(["p0"]), {"p0": 1.5}, {"p0": 1e-5}, 3.0, "cpu",
                       search_healths={("p0", 1e-5): Health("healthy")})
    assert "on all 1 patterns, as the paper did" in ok[-1]


def test_verdict_table1_ties_inside_the_interval_and_split_driven_patterns():
    names = ["p0", "p1"]
    rel = {}
    for name in names:
        rel[name, "reconstruction"], rel[name, "latent"] = CLEAR_REC
    intervals = pd.DataFrame([{"pattern": "p0", "column": "H_TD", "difference": 0.03, "low": -0.2, "high": 0.3},
                              {"pattern": "p0", "column": "H_VD", "difference": 2.0, "low": 1.0, "high": 3.0},
                              {"pattern": "p1", "column": "H_TD", "difference": 1.0, "low": 0.5, "high": 1.5},
                              {"pattern": "p1", "column": "H_VD", "difference": -1.0, "low": -1.5, "high": -0.5}])
    counts = paper.tally(rel, ce_of(names), names, intervals)
    assert (counts["table1_reconstruction_larger"], counts["table1_ties"], counts["table1_latent_larger"]) == (2, 1, 1)
    line = paper.verdict(rel, ce_of(names), {n: 1.5 for n in names}, {n: 1e-5 for n in names}, 3.0, "cpu",
                         intervals=intervals, split={"p0": False, "p1": True})[-3]
    assert "in 1 of 2 cases (a difference counts only when its 95 % bootstrap interval excludes 0" in line
    assert "1 tied and 0 larger for the latent loss" in line and "Not counted: p1" in line
    ce = pd.DataFrame([{"pattern": "b", "loss": "reconstruction", "H_TV": 6.0, "H_T": 4.2, "H_VD": 5.1, "H_V": 4.8},
                       {"pattern": "w", "loss": "reconstruction", "H_TV": 3.4, "H_T": 2.9, "H_VD": 12.5, "H_V": 3.5}])
    assert paper.split_driven(ce) == {"b": True, "w": False}


def test_inverted_auroc_and_latent_ratio_interval():
    assert paper.auroc_text(0.28) == "0.280 (inverted; 1 − AUROC = 0.720)" and paper.auroc_text(0.9) == "0.900"
    rel = {("p0", "reconstruction"): r(0.9, 0.88, 0.92), ("p0", "latent"): r(0.28, 0.24, 0.32)}
    line = paper.verdict(rel, ce_of(["p0"]), {"p0": 0.91}, {"p0": 1e-5}, 3.0, "cpu",
                         ratio_ci={"p0": (0.91, 0.85, 0.97)})[1]
    assert "latent 0.280 (inverted; 1 − AUROC = 0.720)" in line and "*inverted*" in line
    assert "0.91× [0.85, 0.97] that of V (smaller on average: goes against" in line
    same = paper.verdict(rel, ce_of(["p0"]), {"p0": 1.2}, {"p0": 1e-5}, 3.0, "cpu",
                         ratio_ci={"p0": (1.2, 0.95, 1.4)})[1]
    assert "not larger on average: goes against" in same
    rng = np.random.default_rng(0)
    scores = {"p": {"V": {"latent": rng.random(200) + 1}, "D": {"latent": rng.random(200) + 2}}}
    ratio, low, high = paper.latent_ratio_ci(scores, n_boot=50, seed=0)["p"]
    assert low < ratio < high and low > 1


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
