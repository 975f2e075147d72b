"""adlib.benchmark: the cross-paper protocol (data, the detectors' settings, the loop)."""

import numpy as np
import pytest
import torch

from adlib import benchmark as B
from adlib import metrics
from conftest import ROOT

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def small_sets():
    return {s.name: s for s in B.embedded_sets(list(B.EMBEDDED), size=64, n_train=12, n_test=4)}


def test_embedded_sets_follow_the_protocol(small_sets):
    assert len(small_sets) == len(B.EMBEDDED)
    for s in small_sets.values():
        assert s.train.shape[1:] == (1, 64, 64) and s.test.shape[1:] == (1, 64, 64)
        assert s.train.dtype == np.float32 and 0 <= s.test.min() and s.test.max() <= 1
        assert 0 < s.labels.sum() < len(s.labels)
        if s.masks is not None:       # every defective image has a defect, normal ones none
            assert s.masks[s.labels == 1].reshape(int(s.labels.sum()), -1).any(axis=1).all()
            assert not s.masks[s.labels == 0].any()
    assert small_sets["ELPV mono cells"].masks is None


def test_folder_sets_use_masks_when_complete_and_skip_categories_without_defects(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)

    def save(path, mask=False):
        path.parent.mkdir(parents=True, exist_ok=True)
        a = (rng.random((40, 40)) * 255).astype(np.uint8)
        if mask:
            a = np.zeros((40, 40), np.uint8)
            a[10:20, 10:20] = 255
        Image.fromarray(a).save(path)

    for cat, with_masks, defects in (("a_masked", True, True), ("b_unmasked", False, True), ("c_good", False, False)):
        for i in range(4):
            save(tmp_path / cat / "train" / "good" / f"{i}.png")
        for i in range(2):
            save(tmp_path / cat / "test" / "good" / f"{i}.png")
            if defects:
                save(tmp_path / cat / "test" / "scratch" / f"{i}.png")
                if with_masks:
                    save(tmp_path / cat / "ground_truth" / "scratch" / f"{i}_mask.png", mask=True)
    with pytest.warns(UserWarning, match="c_good.*left out"):
        sets = {s.name: s for s in B.folder_sets(tmp_path, 32, 4, 2)}
    assert set(sets) == {"a_masked", "b_unmasked"}
    assert sets["a_masked"].masks.shape == (4, 32, 32) and sets["a_masked"].masks[2:].any()
    assert sets["b_unmasked"].masks is None and sets["b_unmasked"].train.shape == (4, 1, 32, 32)


def test_unknown_names_fail_listing_the_choices():
    with pytest.raises(ValueError, match="choose from.*brick"):
        B.embedded_sets(["bricks"], 64, 4, 2)
    with pytest.raises(ValueError, match="choose from.*schneider_cae"):
        B.check_methods(["cae"])


@pytest.mark.parametrize("change, message", [
    (dict(train=np.zeros((2, 3, 8, 8), np.float32)), "grey images"),
    (dict(labels=np.array([0, 1, 1])), "labels"),
    (dict(labels=np.array([0, 0])), "normal and defective"),
    (dict(masks=np.zeros((2, 4, 4), bool)), "do not match"),
])
def test_inconsistent_sets_are_refused(change, message):
    base = dict(name="x", stands_for="y", train=np.zeros((2, 1, 8, 8), np.float32),
                test=np.zeros((2, 1, 8, 8), np.float32), labels=np.array([0, 1]),
                masks=np.zeros((2, 8, 8), bool))
    with pytest.raises(ValueError, match=message):
        B.BenchmarkSet(**{**base, **change})


def test_the_benchmark_methods_are_the_detectors_that_declare_benchmark_settings():
    """One list: a detector joins the benchmark by its own ``benchmark_settings``; the notebook's
    default (None) means all of them, and every family of the study's question is there."""
    from adlib import detectors
    from adlib.detectors import base

    declared = [name for name, cls in detectors.REGISTRY.items() if cls.benchmark_settings is not None]
    assert list(B.METHODS) == declared and set(B.SETTINGS) == set(declared)
    assert B.build("fadaeinejad_cae", image_size=64, seed=0).work_size == 64
    notebook = (ROOT / "notebooks" / "benchmark_cross_paper.py").read_text()
    assert "\nmethods = None " in notebook
    families = {detectors.REGISTRY[name].family for name in B.METHODS}
    assert {base.PIXEL_AE, base.FEATURE_AE, base.MEMORY_BANK, base.DENSITY, base.LINEAR} <= families


def test_run_one_records_every_metric(small_sets):
    data = small_sets["brick (regular texture)"]
    records, predictions, model_health = B.run_one("schneider_cae", data, seed=0, iterations=2, batch_size=4,
                                                   device=CPU)
    (record,) = records
    assert record["health"] == model_health.status and model_health.checks
    assert 0 <= record["image_auroc"] <= 1 and 0 <= record["image_ap"] <= 1
    assert 0 <= record["pixel_auroc"] <= 1 and record["fit_seconds"] > 0
    assert 0 <= record["aupro"] <= 1 and 0 < record["f1_max"] <= 1
    maps = predictions["CAE (Schneider)"].maps
    assert maps.shape == (len(data.test), 64, 64)
    assert record["aupro"] == metrics.aupro(maps, data.masks)          # the field's definition, all test images
    knn, _, knn_health = B.run_one("deep_feature_knn", data, seed=0, iterations=2, batch_size=4, device=CPU)
    assert np.isnan(knn[0]["pixel_auroc"]) and np.isnan(knn[0]["aupro"])      # no map, no pixel metrics
    assert knn_health.status == knn[0]["health"] == "not trained"


def test_one_model_can_give_two_scores(small_sets):
    data = small_sets["hazelnut-like objects"]
    records, _, _ = B.run_one("soukup_vae", data, seed=0, iterations=2, batch_size=4, device=CPU)
    assert {r["method"] for r in records} == {"VAE (Soukup)", "VAE latent (Soukup)"}
    assert len({r["fit_seconds"] for r in records}) == 1          # one fit shared by both
    assert len({r["health"] for r in records}) == 1               # and one model's health
    own, extra = records
    assert 0 <= own["pixel_auroc"] <= 1 and np.isnan(extra["pixel_auroc"])   # one map, reported once


def test_same_seed_same_scores(small_sets):
    data = small_sets["gravel (stochastic texture)"]
    runs = [B.run_one("fadaeinejad_cae", data, seed=3, iterations=2, batch_size=4,
                      device=CPU)[1]["CAE (Fadaeinejad)"].scores for _ in range(2)]
    # bit equality holds here: same process, same thread count, CPU kernels run in the same order
    np.testing.assert_array_equal(runs[0], runs[1])


def test_the_benchmark_and_a_chapter_give_the_same_number(small_sets):
    """The chapters fit and predict with the same detectors: the Fadaeinejad chapter's pixel
    AUROC (adlib.metrics over the detector's maps) equals the benchmark's record."""
    from adlib import detectors, health, metrics

    data = small_sets["hazelnut-like objects"]
    (record,), _, _ = B.run_one("fadaeinejad_cae", data, seed=1, iterations=3, batch_size=4, device=CPU)
    chapter = detectors.get("fadaeinejad_cae", channels=1, image_size=64, seed=1, **{**B.SETTINGS["fadaeinejad_cae"], "work_size": 64})
    train, _ = health.hold_out(data.train, B.HEALTH_FRACTION, seed=1)
    maps = chapter.fit(train, iterations=3, batch_size=4, progress=False).predict(data.test).maps
    assert metrics.pixel_auroc(maps, data.masks) == record["pixel_auroc"]


def test_non_finite_scores_fail_naming_the_run(small_sets, monkeypatch):
    from adlib import detectors

    monkeypatch.setattr(detectors.REGISTRY["pca"], "_predict",
                        lambda self, x: detectors.Prediction(np.full(len(x), np.nan)))
    with pytest.raises(FloatingPointError, match="PCA residual.*on ELPV mono cells"):
        B.run_one("pca", small_sets["ELPV mono cells"], seed=0, iterations=1, batch_size=1, device=CPU)


@pytest.mark.slow
def test_chapter_stores_every_method_dataset_and_seed(built):
    import json

    repo, _ = built       # the session's smoke build executed the chapter
    results = json.loads((repo / "book" / "generated" / "benchmark_cross_paper.results.json").read_text())
    params = results["provenance"]["parameters"]
    records = results["records"]
    datasets = {r["dataset"] for r in records}
    variants = {r["method"] for r in records}
    assert len(datasets) == len(params["datasets"]) and {r["seed"] for r in records} == set(results["seeds"])
    assert len(records) == len(datasets) * len(variants) * len(results["seeds"])
    assert set(results["mean_auroc"]) == variants and results["verdict"]
