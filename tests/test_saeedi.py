"""Saeedi & Giusti: CPCAE, anomaly maps, deep-feature embedding, chunked k-NN, baselines, ELPV."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from adlib import detectors, health
from adlib.data import elpv
from adlib.detectors import saeedi as saeedi_detectors
from adlib.models import saeedi
from adlib.papers import saeedi as S

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- k-NN

@pytest.mark.parametrize("k", [1, 4])
def test_knn_matches_sklearn_with_tiny_chunks(k):
    rng = np.random.default_rng(0)
    bank, queries = rng.normal(size=(53, 6)), rng.normal(size=(17, 6))
    scorer = saeedi.KNNScorer(k, query_chunk=3, bank_chunk=7).fit(bank)
    ours = scorer.distances(queries)
    dist, _ = NearestNeighbors(n_neighbors=k).fit(bank).kneighbors(queries)
    np.testing.assert_allclose(ours, dist ** 2, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(scorer.score(queries), (dist ** 2).mean(1), rtol=1e-4, atol=1e-4)


def test_knn_scales_to_a_50k_bank_in_bounded_chunks():
    gen = torch.Generator().manual_seed(0)
    bank = torch.randn(50_000, 32, generator=gen)
    queries = torch.randn(40, 32, generator=gen)
    scorer = saeedi.KNNScorer(15, query_chunk=16, bank_chunk=4096).fit(bank.numpy())
    ours = scorer.score(queries.numpy())
    exact = torch.cdist(queries, bank).pow(2).topk(15, largest=False).values.mean(1).numpy()
    np.testing.assert_allclose(ours, exact, rtol=1e-3, atol=1e-3)


def test_knn_rejects_bad_input_clearly():
    scorer = saeedi.KNNScorer(5).fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="exceeds the memory bank"):
        scorer.score(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="do not match"):
        saeedi.KNNScorer(1).fit(np.zeros((3, 2))).score(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="NaN"):
        saeedi.KNNScorer(1).fit(np.full((3, 2), np.nan))


# ----------------------------------------------------------------------------- CPCAE

def test_conditioned_patches_carry_their_index():
    images = torch.rand(2, 1, 32, 32)
    patches, cond = saeedi.conditioned_patches(images, 16, 8)   # 3 × 3 = 9 patches per image
    assert patches.shape == (18, 1, 16, 16) and cond.shape == (18, 1)
    np.testing.assert_allclose(cond[:9, 0].numpy(), (np.arange(9) + 1) / 9, rtol=1e-6)
    assert torch.equal(cond[:9], cond[9:])
    assert torch.equal(patches[4, 0], images[0, 0, 8:24, 8:24])  # row-major: patch 5 is the centre


def test_random_conditioned_patches_come_from_the_grid():
    images = torch.rand(3, 1, 32, 32)
    grid, grid_cond = saeedi.conditioned_patches(images, 16, 8)
    patches, cond = saeedi.random_conditioned_patches(images, 16, 8)(torch.Generator().manual_seed(1), 10)
    assert patches.shape == (10, 1, 16, 16) and cond.shape == (10, 1)
    for p, c in zip(patches, cond):
        assert any(torch.equal(p, g) and torch.equal(c, gc) for g, gc in zip(grid, grid_cond))


def test_cpcae_shapes_condition_and_sparse_loss():
    model = saeedi.CPCAE(in_channels=1, patch=16, latent=8, width=4, l1=0.5)
    patches, cond = saeedi.conditioned_patches(torch.rand(2, 1, 32, 32), 16, 8)
    assert model(patches, cond).shape == (18, 1, 16, 16)
    assert model.encode(patches, cond).shape == (18, 8) and (model.encode(patches, cond) >= 0).all()
    loss, logs = model.loss(patches, cond)
    assert {"mse", "l1"} <= set(logs) and abs(logs["loss"] - logs["mse"] - 0.5 * logs["l1"]) < 1e-5
    assert not torch.allclose(model(patches, cond), model(patches, torch.zeros_like(cond)))   # the condition counts
    with pytest.raises(ValueError, match="condition"):
        model(torch.rand(2, 1, 16, 16), torch.rand(2))
    with pytest.raises(ValueError, match="multiple of 8"):
        saeedi.CPCAE(patch=20)


def test_cpcae_learns_and_maps_are_upsized():
    images = torch.zeros(6, 1, 64, 64)
    images[:, :, 16:48, 16:48] = 0.8
    model = saeedi.CPCAE(in_channels=1, patch=16, latent=16, width=8, l1=1e-4)
    small = saeedi.resize(images, 32)
    history = model.fit(saeedi.random_conditioned_patches(small, 16, 8), iterations=60, batch_size=16,
                        lr=3e-3, progress=False)
    assert np.mean(history.series("mse")[-10:]) < np.mean(history.series("mse")[:10])
    result = saeedi.anomaly_maps(model, images, work_size=32, stride=8)
    assert result.maps.shape == (6, 64, 64) and result.reconstructions.shape == (6, 1, 32, 32)
    assert result.l2.shape == (6,) and result.codes.shape == (6, 9 * 16)
    assert torch.isfinite(result.maps).all() and (result.maps >= 0).all()
    with pytest.raises(ValueError, match="not covered"):
        saeedi.anomaly_maps(model, images, work_size=30, stride=8)


# ----------------------------------------------------------------------------- deep features

def test_parallel_cascade_pooling_triples_the_features():
    f = torch.rand(2, 5, 7, 7)
    pooled = saeedi.ParallelCascadePooling()(f)
    assert pooled.shape == (2, 15)
    assert torch.allclose(pooled[:, :5], f.amax(dim=(2, 3)))
    assert torch.allclose(pooled[:, 5:10], f.mean(dim=(2, 3)))


def test_feature_extractor_embeds_maps_and_images():
    extractor = saeedi.FeatureExtractor()
    grey = torch.rand(3, 1, 80, 80)
    assert extractor.embed(grey, 64, "pc").shape == (3, 3 * 1280)
    assert extractor.embed(grey, 64, "max").shape == (3, 1280)
    assert extractor.embed(torch.rand(2, 3, 64, 64), None, "max").shape == (2, 1280)


def test_missing_or_wrong_weights_fail_clearly(tmp_path):
    with pytest.raises(saeedi.WeightsError, match="does not exist"):
        saeedi.load_backbone(weights_path=str(tmp_path / "missing.pth"))
    wrong = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, wrong)
    with pytest.raises(saeedi.WeightsError, match="does not fit the EfficientNet-Lite0"):
        saeedi.load_backbone(weights_path=str(wrong))
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(saeedi.WeightsError, match="cannot read"):
        saeedi.load_backbone(weights_path=str(broken))
    with pytest.raises(ValueError, match="backbone"):
        saeedi.load_backbone("xception")


def test_torchvision_backbone_with_user_weights(tmp_path):
    import torchvision

    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    trunk, channels = saeedi.load_backbone("torchvision:resnet18", str(path))
    assert channels == 512 and trunk(torch.rand(1, 3, 64, 64)).shape == (1, 512, 2, 2)


def test_standardiser_uses_training_statistics_only():
    train, test = np.array([[0.0], [2.0]]), np.array([[4.0]])
    standardise = saeedi.Standardiser(train)
    np.testing.assert_allclose(standardise(train).ravel(), [-1, 1])
    np.testing.assert_allclose(standardise(test).ravel(), [3])
    assert standardise(np.zeros((0, 1))).shape == (0, 1)


def test_the_cnn_is_loaded_once_per_backbone_weights_and_device():
    assert saeedi.shared_extractor() is saeedi.shared_extractor(device="cpu")


# ----------------------------------------------------------------------------- baselines

def test_variation_scores_outliers_higher():
    rng = np.random.default_rng(0)
    train = rng.normal(0.5, 0.05, size=(50, 1, 8, 8))
    model = saeedi.VariationModel().fit(train)
    normal = rng.normal(0.5, 0.05, size=(5, 1, 8, 8))
    odd = normal.copy()
    odd[:, :, 2:4, 2:4] = 1.0
    assert (model.score(odd) > model.score(normal)).all()
    assert np.isfinite(saeedi.VariationModel().fit(np.zeros((3, 1, 4, 4))).score(np.ones((1, 1, 4, 4)))).all()


# ----------------------------------------------------------------------------- data

def test_elpv_split_is_deterministic_and_keeps_uncertain_cells_apart():
    cats = elpv.load_elpv(size=64, max_train=6, max_test_normal=3, max_test_defective=4, max_uncertain=2)
    assert set(cats) == {"mono", "poly"}
    for name, cat in cats.items():
        assert cat.train.shape == (6, 1, 64, 64) and cat.test.shape == (7, 1, 64, 64)
        assert cat.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]
        assert len(cat.uncertain) == 4 and sorted(set(np.round(cat.uncertain_probability, 3))) == [0.333, 0.667]
        assert not set(cat.train_files) & set(cat.files) and not set(cat.uncertain_files) & set(cat.files)
        assert 0 <= cat.train.min() and cat.train.max() <= 1
    again = elpv.load_elpv(types=("mono",), size=64, max_train=6, max_test_normal=3, max_test_defective=4,
                           max_uncertain=2)
    assert again["mono"].files == cats["mono"].files and np.array_equal(again["mono"].test, cats["mono"].test)
    files, probs, types = elpv.read_labels()
    assert len(files) == 2624 and set(types) == {"mono", "poly"}
    with pytest.raises(ValueError, match="cell types"):
        elpv.load_elpv(types=("thin-film",))


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_profile_parameters_are_known_to_the_chapter(profile):
    from adlib.execute import merged_parameters

    merged = merged_parameters("saeedi_cpcae_knn", profile)
    S.check_parameters(merged)
    detectors.get("saeedi_cpcae", channels=3 if merged["colour"] else 1, work_size=merged["work_size"],
                  patch=merged["patch"], stride=merged["stride"], latent=merged["latent"], width=merged["width"],
                  l1=merged["l1"], k=merged["k"], feature_size=merged["feature_size"], map_split=merged["map_split"])


# ----------------------------------------------------------------------------- the chapter under smoke

def _mvtec_tree(root: Path) -> Path:
    """Two MVTec-layout categories: 'bottle' with images of two sizes, 'widget' without defects."""
    from PIL import Image

    rng = np.random.default_rng(0)

    def save(path, size, defect=False):
        path.parent.mkdir(parents=True, exist_ok=True)
        a = (rng.random((size, size, 3)) * 60 + 100).astype(np.uint8)
        if defect:
            a[size // 4:size // 2, size // 4:size // 2] = 250
        Image.fromarray(a).save(path)

    for cat, mixed, defects in (("bottle", True, True), ("widget", False, False)):
        for i in range(10):
            save(root / cat / "train" / "good" / f"{i:03d}.png", 96 if mixed and i % 2 else 80)
        for i in range(4):
            save(root / cat / "test" / "good" / f"{i:03d}.png", 80)
            if defects:
                save(root / cat / "test" / "crack" / f"{i:03d}.png", 80, defect=True)
    return root


@pytest.mark.slow
def test_chapter_smoke_on_mvtec_layout_reports_resizing_and_empty_categories(tmp_path):
    import json

    import nbformat

    from adlib.execute import execute

    data = _mvtec_tree(tmp_path / "data")
    out = tmp_path / "out"
    execute("saeedi_cpcae_knn", "smoke", out, extra={"data_root": str(data)})
    results = json.loads((out / "saeedi_cpcae_knn.results.json").read_text())
    assert set(results["scores"]) == {"bottle", "widget"}
    for method, value in results["scores"]["bottle"].items():
        assert 0 <= value["auc"] <= 1 and 0 <= value["ap"] <= 1
    for value in results["scores"]["widget"].values():          # no defective test image: no NaN
        assert value["auc"] is None and value["note"] == "no defective test images"
    assert any("different sizes" in note and "bottle" in note for note in results["data_notes"])
    field = {r["method"]: r for r in results["mvtec_metrics"]}          # bottle only: widget has one class
    measured = {detectors.REGISTRY[key].label for key in S.FIELD_METHODS}          # the field's, run here too
    assert set(field) == set(S.METHODS) | measured and {r["category"] for r in results["mvtec_metrics"]} == {"bottle"}
    assert all(field[label]["source"] == "measured here" and field[label]["health"] for label in measured)
    assert all(0 <= r["f1_max"] <= 1 and r["pixel_auroc"] is None for r in field.values())   # no masks here
    text = json.dumps(nbformat.read(out / "saeedi_cpcae_knn.ipynb", 4))
    assert "of one class only" in text and "NaN" not in json.dumps(results["scores"])


@pytest.mark.slow
def test_chapter_fails_clearly_on_wrong_weights(tmp_path):
    from adlib.execute import execute

    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(SystemExit, match="does not fit the EfficientNet-Lite0"):
        execute("saeedi_cpcae_knn", "smoke", tmp_path / "out", extra={"weights_path": str(wrong)})


def test_bootstrap_auc_difference_matches_sklearn_and_brackets_it():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(40), np.ones(30)].astype(int)
    a = rng.normal(size=70) + labels * 1.5
    b = np.round(rng.normal(size=70) + labels * 0.3, 1)              # with ties
    diff, low, high = S.bootstrap_auc_difference(labels, a, b, n=500)
    assert diff == pytest.approx(roc_auc_score(labels, a) - roc_auc_score(labels, b))
    assert low < diff < high and low > 0
    with pytest.raises(ValueError, match="normal and anomalous"):
        S.bootstrap_auc_difference(np.zeros(5), a[:5], b[:5])


def test_knn_search_returns_the_nearest_rows():
    rng = np.random.default_rng(1)
    bank, queries = rng.normal(size=(40, 5)), rng.normal(size=(9, 5))
    dist, rows = saeedi.KNNScorer(3, query_chunk=4, bank_chunk=6).fit(bank).search(queries)
    _, expected = NearestNeighbors(n_neighbors=3).fit(bank).kneighbors(queries)
    assert np.array_equal(rows, expected)
    np.testing.assert_allclose(dist, ((queries[:, None] - bank[rows]) ** 2).sum(-1), rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- detectors

def _images(n, size=32, channels=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, 5, 5, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def _cpcae(**settings):
    return detectors.get("saeedi_cpcae", **{**detectors.REGISTRY["saeedi_cpcae"].quick_check, **settings})


def test_saeedi_cpcae_analyse_is_predict_with_its_internals_and_k_is_clamped():
    detector = _cpcae(k=15).fit(_images(6), iterations=2, batch_size=4, progress=False)
    assert detector.k_used == 6 and detector.bank_size == 6         # k clamped to the 6 bank maps
    test = _images(4, seed=1)
    analysis = detector.analyse(test, k_max=50)
    assert analysis.distances.shape == (4, 6) and (np.diff(analysis.distances, axis=1) >= 0).all()
    prediction = detector.predict(test)
    np.testing.assert_allclose(prediction.scores, analysis.distances.mean(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(prediction.scores, analysis.prediction.scores)
    np.testing.assert_allclose(prediction.extra["ae_l2"], detector.anomaly_maps(test).l2.numpy())
    assert set(prediction.extra) == {"ae_l2", "gmp"}
    assert analysis.embeddings["pc"].shape[1] == 3 * analysis.embeddings["gmp"].shape[1]
    assert analysis.maps.codes.shape == (4, 9 * 4)                  # 3 × 3 patches of 4 hidden units
    assert detector.knn_distances(analysis.embeddings["pc"], 2).shape == (4, 2)


def test_holdout_split_keeps_the_bank_images_out_of_training():
    ae, bank = saeedi_detectors.split_indices(10, "holdout", 0.3)
    assert bank.tolist() == [2, 5, 8] and not set(ae) & set(bank) and len(ae) + len(bank) == 10
    detector = _cpcae(map_split="holdout").fit(_images(6), iterations=2, batch_size=4, progress=False)
    assert detector.bank_size == 2 and detector.k_used == 2
    with pytest.raises(ValueError, match="holdout"):
        _cpcae(map_split="holdout").fit(_images(1), iterations=1, progress=False)


def test_saeedi_detectors_reject_bad_hyperparameters_and_weights(tmp_path):
    with pytest.raises(ValueError, match="work_size - patch"):
        detectors.get("saeedi_cpcae", work_size=30, patch=16, stride=8)
    with pytest.raises(ValueError, match="map_split"):
        detectors.get("saeedi_cpcae", map_split="random")
    with pytest.raises(ValueError, match="k=0"):
        detectors.get("deep_feature_knn", k=0)
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    detector = _cpcae(weights_path=str(wrong))
    with pytest.raises(saeedi.WeightsError, match="does not fit"):
        detector.fit(_images(4), iterations=1, progress=False)
    assert detector.history is None                                  # failed before training


def test_the_cnn_cache_does_not_change_the_initial_weights():
    saeedi._EXTRACTORS.clear()
    test = _images(3, seed=2)
    first = _cpcae(seed=5).fit(_images(5), iterations=2, batch_size=4, progress=False).predict(test).scores
    again = _cpcae(seed=5).fit(_images(5), iterations=2, batch_size=4, progress=False).predict(test).scores
    # bit equality holds here: same process, same thread count, CPU kernels run in the same order
    np.testing.assert_array_equal(first, again)


def test_saeedi_ae_l2_is_the_cpcae_alone():
    detector = detectors.get("saeedi_ae_l2", **detectors.REGISTRY["saeedi_ae_l2"].quick_check)
    detector.fit(_images(4), iterations=2, batch_size=4, progress=False)
    test = _images(3, size=40, seed=1)
    prediction = detector.predict(test)
    np.testing.assert_allclose(prediction.scores, detector.anomaly_maps(test).l2.numpy())
    assert prediction.maps.shape == (3, 40, 40) and not hasattr(detector, "extractor")


def test_nearest_neighbour_and_variation_localise_a_changed_square():
    train = _images(6, size=24)
    odd = train[:1].clone()
    odd[:, :, 4:10, 4:10] = 1.0
    nn = detectors.get("nearest_neighbour", work_size=24).fit(train)
    prediction = nn.predict(torch.cat([train[:1], odd]))
    assert prediction.scores[0] == pytest.approx(0, abs=1e-4) and prediction.scores[1] > 0.1
    assert prediction.maps[1, 4:10, 4:10].mean() > 10 * prediction.maps[1, 14:, 14:].mean()
    variation = detectors.get("variation", work_size=24).fit(train)
    maps = variation.predict(torch.cat([train[:1], odd])).maps
    assert maps[1, 4:10, 4:10].mean() > maps[0, 4:10, 4:10].mean()
    shrunk = detectors.get("variation", work_size=16).fit(train).predict(odd)
    assert shrunk.maps.shape == (1, 24, 24)


def test_deep_feature_knn_takes_any_channel_count():
    detector = detectors.get("deep_feature_knn", channels=2, feature_size=32).fit(_images(5, channels=2))
    assert detector.embeddings(_images(2, channels=2)).shape == (2, 1280)
    assert np.isfinite(detector.predict(_images(2, channels=2, seed=3)).scores).all()


# ----------------------------------------------------------------------------- the chapter's functions

def _metrics(**auc_ap):
    """One category's metrics: method=(AUC, AP) in %, the others 50 %."""
    values = {m: (50.0, 50.0) for m in S.METHODS} | {m.replace("_", " "): v for m, v in auc_ap.items()}
    return {m: {"auc": a / 100, "ap": p / 100} for m, (a, p) in values.items()}


def _named(**kw):
    names = {"AE_L2": "AE (L2)", "Deep_Feature": "Deep Feature"}
    return _metrics(**{names.get(k, k): v for k, v in kw.items()})


SIGNIFICANT = {"AE (L2)": (0.2, 0.1, 0.3), "Deep Feature": (0.1, 0.02, 0.2)}
NOISY = {"AE (L2)": (0.2, 0.1, 0.3), "Deep Feature": (0.02, -0.05, 0.08)}


def test_verdict_when_the_proposed_method_beats_both():
    metrics = {"a": _named(Proposed=(90, 92), AE_L2=(70, 75), Deep_Feature=(80, 85), NN=(60, 70), Variation=(55, 60))}
    lines = S.verdict(metrics, {"a": SIGNIFICANT})
    assert "beats both on AUC and AP" in lines[0] and "not significant" not in lines[0]
    assert "+20.0 (+10.0 to +30.0) points" in lines[0]
    assert "higher AUC and AP than both; the claims table" in lines[1] and "best mean AUC: Proposed" in lines[1]
    assert "both below the proposed method, as in the paper" in lines[2]


def test_verdict_when_one_baseline_is_not_beaten():
    metrics = {"a": _named(Proposed=(80, 82), AE_L2=(60, 65), Deep_Feature=(85, 80), NN=(90, 91), Variation=(50, 55))}
    lines = S.verdict(metrics, {"a": NOISY})
    assert "beats AE (L2) on AUC and AP only" in lines[0]
    assert "to Deep Feature +2.0 (-5.0 to +8.0) points, not significant" in lines[0]
    assert "higher AUC and AP than AE (L2) only" in lines[1]
    assert "best mean AUC: NN" in lines[1]
    assert "only Variation below the proposed method here" in lines[2]


def test_verdict_when_neither_is_beaten():
    metrics = {"a": _named(Proposed=(60, 62), AE_L2=(70, 75), Deep_Feature=(80, 85), NN=(65, 70), Variation=(61, 60)),
               "b": _named(Proposed=(62, 61), AE_L2=(60, 65), Deep_Feature=(80, 85), NN=(65, 70), Variation=(70, 60))}
    lines = S.verdict(metrics, {})
    assert "beats neither on both AUC and AP" in lines[0] and "bootstrap" not in lines[0]
    assert "beats neither" in lines[1]                          # b: a higher AUC than AE (L2) but a lower AP
    assert "higher AUC and AP than neither" in lines[2]
    assert "neither below the proposed method here, unlike the paper" in lines[3]


UNDER = health.Health("under-trained", {"tail_drop": 0.2}, ["loss still falling"])
COLLAPSED = health.Health("collapsed", {"spread_ratio": 0.01}, ["outputs barely follow inputs"])


def test_verdict_is_inconclusive_where_the_cpcae_is_not_healthy():
    metrics = {"a": _named(Proposed=(90, 92), AE_L2=(70, 75), Deep_Feature=(80, 85), NN=(60, 70), Variation=(55, 60)),
               "b": _named(Proposed=(91, 92), AE_L2=(70, 75), Deep_Feature=(80, 85), NN=(60, 70), Variation=(55, 60))}
    ok = health.Health("healthy")
    lines = S.verdict(metrics, {"a": SIGNIFICANT, "b": SIGNIFICANT}, {"a": ok, "b": UNDER})
    assert "beats both on AUC and AP" in lines[0] and "inconclusive" not in lines[0]
    assert "**inconclusive (CPCAE b under-trained)**" in lines[1] and "beats" not in lines[1]
    assert "bootstrap" not in lines[1]                            # no significance read from a bad model
    assert "The comparison is **inconclusive (CPCAE b under-trained)**" in lines[2] and "higher" not in lines[2]
    assert "is **inconclusive (CPCAE b under-trained)**" in lines[3] and "as in the paper" not in lines[3]
    healthy = S.verdict(metrics, {"a": SIGNIFICANT, "b": SIGNIFICANT}, {"a": ok, "b": health.NOT_TRAINED})
    assert "than both" in healthy[2] and not any("inconclusive" in line for line in healthy)


def test_verdict_checks_fig6_and_the_design_choices_with_health():
    metrics = {"a": _named(Proposed=(90, 92), AE_L2=(70, 75), Deep_Feature=(80, 85))}
    ablation = pd.DataFrame([
        {"category": "a", "variant": "as above (parallel + cascade pooling, map_split='none')", "AUC": 90.0},
        {"category": "a", "variant": "global max pooling of the map features", "AUC": 88.0},
        {"category": "a", "variant": "map_split='holdout' (3 bank maps)", "AUC": 40.0}])
    lines = S.verdict(metrics, {}, {"a": health.Health("healthy")}, separation={"a": (0.01, 0.2)}, ablation=ablation,
                      ablation_healths={"a": health.Health("healthy")})
    assert "Fig 6" in lines[3] and "better separated in the proposed embedding, as in the paper" in lines[3]
    assert "90.0 vs 88.0 %" in lines[4] and "higher by more than 1 point, as it assumes" in lines[4]
    assert "40.0 (inverted; 100 − AUROC = 60.0)" in lines[5] and "not lower by more than 1 point, as it" in lines[5]
    close = ablation.assign(AUC=[90.0, 89.5, 90.8])          # within the 1-point tolerance both ways
    near = S.verdict(metrics, {}, separation=None, ablation=close)
    assert "is **not** higher by more than 1 point here" in near[3] and "not lower by more than 1 point, as" in near[4]
    worse = S.verdict(metrics, {}, {"a": health.Health("healthy")}, separation={"a": (0.3, 0.2)}, ablation=ablation,
                      ablation_healths={"a": COLLAPSED})
    assert "**not** better separated" in worse[3] and "as it assumes" in worse[4]
    assert "**inconclusive (CPCAE (other map_split) a collapsed)**" in worse[5]
    bad = S.verdict(metrics, {}, {"a": COLLAPSED}, separation={"a": (0.3, 0.2)}, ablation=ablation)
    assert all("inconclusive (CPCAE a collapsed)" in line for line in bad)


def test_inverted_aucs_are_labelled_in_lines_and_tables():
    assert S.auc_text(41.4) == "41.4 (inverted; 100 − AUROC = 58.6)" and S.auc_text(41.4, short=True) == "41.4, inverted"
    assert S.auc_text(50.0) == "50.0" and S.auc_text(None) == "–" and S.auc_text(float("nan")) == "–"
    metrics = {"a": _named(Proposed=(45, 92), AE_L2=(70, 30))}
    lines = S.verdict(metrics, {})
    assert "proposed AUC 45.0 (inverted; 100 − AUROC = 55.0) % / AP 92.0 %" in lines[0]
    assert "AE (L2) 70.0 / 30.0 %" in lines[0]                    # an AP is never labelled inverted
    table = S.table4_text(metrics).set_index(["method", "metric"])
    assert table.loc[("Proposed", "AUC"), "a"].endswith("(inverted; 100 − AUROC = 55.0)")
    assert table.loc[("AE (L2)", "AP"), "a"] == "30.0" and "inverted" not in table.loc[("Proposed", "AUC"), "Δ mean"]
    assert S.mean_glue(metrics)["auc_proposed"].startswith("45.0 (inverted")


def test_health_hold_out_is_kept_from_every_method_and_reported():
    data = {"c": _category(n_train=20)}
    kept, held = S.hold_out_health(data, seed=0)
    assert len(kept["c"].train) + len(held["c"]) == 20 and len(held["c"]) == 4
    train_rows = {r.tobytes() for r in kept["c"].train}
    assert not any(r.tobytes() in train_rows for r in held["c"])
    assert S.overview_table(kept, held)["held out (health check)"].tolist() == [4]
    run = type("Run", (), {"health": [], "add_health": lambda self, h, **k: self.health.append(h.record(**k))})()
    nn = detectors.get("nearest_neighbour", **detectors.REGISTRY["nearest_neighbour"].quick_check).fit(kept["c"].train)
    assert S.check_health(nn, held["c"], run, dataset="c", model="NN", seed=0).status == "not trained"
    assert run.health[0]["model"] == "NN" and S.health_sentence(run.health) == "No model of this run was trained."
    good = {"model": "CPCAE", "dataset": "c", "status": "healthy", "reasons": [],
            "checks": {"error_ratio": 0.1, "spread_ratio": 0.9}}
    assert S.health_sentence([good]) == ("All 1 trained models are healthy (held-out reconstruction error "
                                         "0.10–0.10 times the mean image's, output spread 90%–90% of the inputs').")
    text = S.health_sentence([good, {**good, "dataset": "d", **UNDER.record()}])
    assert text.startswith("Not healthy: CPCAE on d: under-trained (loss still falling)")


def test_verdict_without_a_category_of_both_classes():
    one_class = {m: {"auc": None, "ap": None, "note": "no defective test images"} for m in S.METHODS}
    assert S.verdict({"w": one_class}, {}) == ["- No category has both normal and defective test images: no verdict."]
    assert S.headline({"w": one_class}) == [] and S.means({"w": one_class}) == {}
    assert S.mean_glue({"w": one_class})["auc_proposed"] == "–"
    assert "of one class only" in S.single_class_note({"w": one_class})


def _category(name="c", n_train=6, n_normal=4, n_defect=4, uncertain=2, size=32, seed=0):
    train = _images(n_train, size=size, seed=seed)
    test = torch.cat([train[:n_normal], train[:n_defect]]) * 0.98    # the training images, some with a flaw
    test[n_normal:, :, 8:16, 8:16] = 1.0
    return S.Category(name, train.numpy(), test.numpy(),
                      np.r_[np.zeros(n_normal), np.ones(n_defect)].astype(int),
                      _images(uncertain, size=size, seed=seed + 2).numpy(), np.array([1 / 3, 2 / 3][:uncertain]))


def test_the_chapter_pipeline_on_tiny_data():
    import matplotlib.pyplot as plt

    data = {"c": _category(), "w": _category("w", n_defect=0, uncertain=0)}
    proposed, analyses, scores = {}, {}, {}
    for name, d in data.items():
        proposed[name] = _cpcae(k=3).fit(d.train, iterations=3, batch_size=4, progress=False)
        analyses[name] = proposed[name].analyse(d.test, k_max=5)
        scores[name] = S.collect(analyses[name].prediction, S.predict_uncertain(proposed[name], d),
                                 {"Proposed": None, "AE (L2)": "ae_l2", "GMP": "gmp"})
        for method, key in (("Deep Feature", "deep_feature_knn"), ("NN", "nearest_neighbour"), ("Variation", "variation")):
            detector = detectors.get(key, **detectors.REGISTRY[key].quick_check).fit(d.train)
            scores[name].update(S.collect(detector.predict(d.test), S.predict_uncertain(detector, d), {method: None}))
    assert scores["c"]["Proposed"][1].shape == (2,) and scores["w"]["NN"][1].shape == (0,)
    metrics = S.evaluate(scores, data)
    assert S.valid(metrics) == ["c"] and metrics["w"]["NN"] == {"auc": None, "ap": None,
                                                                "note": "no defective test images"}
    assert metrics["c"]["NN"]["auc"] == 1.0                       # the flaw is far from every training image
    table = S.table4(metrics)
    assert len(table) == 10 and table["w"].isna().all() and "c (paper)" not in table
    uncertain = S.uncertain_table(scores, data, metrics)
    assert uncertain[["n (p = 1/3)", "n (p = 2/3)"]].to_numpy().tolist() == [[1, 1]] * 5
    options = S.k_options([1, 3, 50], 2, analyses)
    assert options == [1, 2, 3]                                  # 50 exceeds the 5 distances analyse kept
    by_k = S.auc_by_k(analyses, data, options, S.valid(metrics))
    assert by_k["c"][3][0] == pytest.approx(metrics["c"]["Proposed"]["auc"])
    ablation = S.ablation_table(metrics, scores, data, "none", other_split={"c": (scores["c"]["AE (L2)"][0], 2)})
    assert ablation.variant.tolist()[1:] == ["global max pooling of the map features", "map_split='holdout' (2 bank maps)"]
    assert S.ablation_summary(ablation).startswith("Mean change of AUC against the proposed configuration: global")
    assert S.ablation_summary(ablation.iloc[:1]) is None and S.ablation_summary(ablation.iloc[:0]) is None
    separation = S.label_separation(analyses, data, S.valid(metrics))
    assert set(separation) == {"c"} and all(-1 <= v <= 1 for v in separation["c"])
    ci = S.intervals(scores, data, metrics, n=20, seed=0)
    assert set(ci) == {"c"} and len(S.interval_records(ci)) == len(S.CHALLENGED + S.SIMPLE)
    curves = S.roc_curves(scores, data, metrics)
    figures = [S.loss_figure({n: p.history for n, p in proposed.items()}), S.roc_figure(curves, metrics),
               S.k_frame(by_k, metrics, 3)[0], S.tsne_figure(analyses, data, seed=0),
               S.panels_figure(analyses, data, panels=2)]
    assert all(isinstance(f, plt.Figure) for f in figures)
    plt.close("all")
    assert S.roc_selector(curves, metrics) is not None and S.roc_selector({}, metrics) is None
    assert [h["ours"] for h in S.headline(metrics)] == [100 * metrics["c"][m]["auc"]
                                                         for m in ("Proposed", "AE (L2)", "Deep Feature")]


def test_table4_puts_the_papers_mvtec_value_beside_ours():
    metrics = {"bottle": _named(Proposed=(90, 92))}
    table = S.table4(metrics).set_index(["method", "metric"])
    assert table.loc[("Proposed", "AUC"), "bottle (paper)"] == 99.71
    assert table.loc[("Variation", "AP"), "mean (paper, MVTec)"] == 81.96
    assert table.loc[("Proposed", "AUC"), "Δ mean"] == pytest.approx(90 - 91.09)
    assert len(S.published_table()) == 5 * 2 * 9


def test_collect_and_parameter_checks_fail_clearly():
    from adlib.detectors.base import Prediction

    with pytest.raises(FloatingPointError, match="Proposed"):
        S.collect(Prediction(np.array([np.nan, 1.0])), None, {"Proposed": None})
    good = {"patch": 16, "work_size": 32, "stride": 8, "k_values": [1, 3]}
    S.check_parameters(good)
    with pytest.raises(ValueError, match="work_size - patch"):
        S.check_parameters(good | {"stride": 5})
    with pytest.raises(ValueError, match="k_values"):
        S.check_parameters(good | {"k_values": [0]})


def test_internals_need_a_fitted_detector():
    with pytest.raises(RuntimeError, match="fit"):
        _cpcae().analyse(_images(2))


def test_mvtec_records_carry_the_field_metrics_health_and_table4():
    d = _category("bottle", uncertain=0)
    masks = np.zeros((len(d.test), 32, 32), bool)
    masks[d.labels == 1, 8:16, 8:16] = True
    d = replace(d, masks=masks)
    flat = np.r_[np.zeros(4), np.ones(4)]
    scores = {"bottle": {m: (flat + 0.1 * i, np.zeros(0)) for i, m in enumerate(S.METHODS)}}
    perfect = masks.astype(np.float32)
    maps = {"bottle": {"Proposed": perfect, "NN": 1 - perfect}}

    class Fake:
        status = "healthy"

    records = {r["method"]: r for r in S.mvtec_records(scores, maps, {"bottle": d}, {"bottle": Fake()})}
    proposed = records["Proposed"]
    assert proposed["image_auroc"] == 1.0 and proposed["f1_max"] == 1.0 and proposed["aupro"] == 1.0
    assert proposed["pixel_auroc"] == 1.0 and proposed["published"] == pytest.approx(0.9971)
    assert records["NN"]["pixel_auroc"] == 0.0 and records["NN"]["health"] == "not trained"
    assert records["AE (L2)"]["aupro"] is None and records["AE (L2)"]["health"] == "healthy"  # shares the map
    assert records["Deep Feature"]["pixel_auroc"] is None                                     # no map


def test_tsne_figure_says_collapsed_codes_instead_of_crashing():
    from types import SimpleNamespace

    d = _category("c", uncertain=0)
    n = len(d.test)
    collapsed = SimpleNamespace(maps=SimpleNamespace(codes=torch.zeros(n, 16)),
                                embeddings={"pc": np.random.default_rng(0).normal(size=(n, 8))})
    fig = S.tsne_figure({"c": collapsed}, {"c": d}, seed=0)
    left, right = fig.axes
    assert "collapsed" in left.texts[0].get_text() and right.collections     # the other panel is drawn
