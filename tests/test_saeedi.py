"""Saeedi & Giusti: CPCAE, anomaly maps, deep-feature embedding, chunked k-NN, baselines, ELPV."""

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from adlib.data import elpv
from adlib.models import saeedi

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
    packed = saeedi.conditioned_patches(images, 16, 8)           # 3 × 3 = 9 patches per image
    assert packed.shape == (18, 2, 16, 16)
    cond = packed[:, 1, 0, 0]
    np.testing.assert_allclose(cond[:9].numpy(), (np.arange(9) + 1) / 9, rtol=1e-6)
    assert torch.equal(cond[:9], cond[9:]) and torch.all(packed[:, 1] == cond.view(-1, 1, 1))
    assert torch.equal(packed[4, 0], images[0, 0, 8:24, 8:24])  # row-major: patch 5 is the centre


def test_random_conditioned_patches_come_from_the_grid():
    images = torch.rand(3, 1, 32, 32)
    grid = saeedi.conditioned_patches(images, 16, 8)
    batch = saeedi.random_conditioned_patches(images, 16, 8)(torch.Generator().manual_seed(1), 10)
    assert batch.shape == (10, 2, 16, 16)
    for b in batch:
        assert any(torch.equal(b, g) for g in grid)


def test_cpcae_shapes_condition_and_sparse_loss():
    model = saeedi.CPCAE(in_channels=1, patch=16, latent=8, width=4, l1=0.5)
    packed = saeedi.conditioned_patches(torch.rand(2, 1, 32, 32), 16, 8)
    assert model(packed).shape == (18, 1, 16, 16)
    assert model.encode(packed).shape == (18, 8) and (model.encode(packed) >= 0).all()
    loss, logs = model.loss(packed)
    assert {"mse", "l1"} <= set(logs) and abs(logs["loss"] - logs["mse"] - 0.5 * logs["l1"]) < 1e-5
    other = packed.clone()
    other[:, 1] = 0.0                                              # another condition → another output
    assert not torch.allclose(model(packed), model(other))
    with pytest.raises(ValueError, match="condition"):
        model(torch.rand(2, 1, 16, 16))
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


def test_standardise_uses_training_statistics_only():
    train, test = np.array([[0.0], [2.0]]), np.array([[4.0]])
    z_train, z_test = saeedi.standardise(train, test)
    np.testing.assert_allclose(z_train.ravel(), [-1, 1])
    np.testing.assert_allclose(z_test.ravel(), [3])


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
    assert (merged["work_size"] - merged["patch"]) % merged["stride"] == 0 and merged["patch"] % 8 == 0
    saeedi.CPCAE(3 if merged["colour"] else 1, merged["patch"], merged["latent"], merged["width"], merged["l1"])


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
    diff, low, high = saeedi.bootstrap_auc_difference(labels, a, b, n=500)
    assert diff == pytest.approx(roc_auc_score(labels, a) - roc_auc_score(labels, b))
    assert low < diff < high and low > 0
    with pytest.raises(ValueError, match="normal and anomalous"):
        saeedi.bootstrap_auc_difference(np.zeros(5), a[:5], b[:5])
