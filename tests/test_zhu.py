"""Zhu et al.: RotNet encoder, two-stage model, one-class baselines, one-class data, the
detectors (adlib.detectors.zhu) and the chapter's experiment, tables, figures and verdict
(adlib.papers.zhu, adlib.papers.zhu_results)."""

import functools
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models.resnet import BasicBlock, ResNet

from adlib import detectors, health
from adlib import params as P
from adlib.data import oneclass
from adlib.execute import merged_parameters, notebook_defaults
from adlib.models import oneclass_baselines as baselines
from adlib.models import zhu
from adlib.papers import zhu as paper
from adlib.papers import zhu_results as results


# ----------------------------------------------------------------------------- models

@pytest.mark.parametrize("width,stride,channels", [(64, 1, 3), (8, 2, 1)])
def test_encoder_is_torchvision_resnet18_adapted_to_32px(width, stride, channels):
    enc = zhu.ResNet18Encoder(channels, width, stride)
    assert isinstance(enc, ResNet)
    blocks = [m for m in enc.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 8                                   # ResNet-18: [2, 2, 2, 2]
    assert [blocks[i].conv1.out_channels for i in (0, 2, 4, 6)] == [width, 2 * width, 4 * width, 8 * width]
    assert enc.conv1.kernel_size == (3, 3) and isinstance(enc.maxpool, torch.nn.Identity)
    x = torch.rand(2, channels, 32, 32)
    assert enc.features(x).shape == (2, 8 * width) and enc(x).shape == (2, 4)
    if width == 64:                                            # the standard network's size
        assert 11.0e6 < sum(p.numel() for p in enc.parameters()) < 11.3e6


def test_encoder_rejects_wrong_input_clearly():
    with pytest.raises(ValueError, match="pad 28-px images.*to_input_size"):
        zhu.ResNet18Encoder(1, 8)(torch.rand(1, 1, 28, 28))
    with pytest.raises(ValueError, match="multiple of 4"):
        zhu.ResNet18Encoder(1, 6)


def test_rotations_and_labels():
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    rotated, labels = zhu.rotations(x)
    assert rotated.shape == (8, 1, 4, 4) and labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.equal(rotated[2], torch.rot90(x[0], 1, dims=(1, 2)))
    assert torch.equal(rotated[7], torch.rot90(x[1], 3, dims=(1, 2)))


def test_decoder_shape_and_range():
    dec = zhu.DCGANDecoder(nz=64, out_channels=3, ngf=8)
    out = dec(torch.randn(5, 64))
    assert out.shape == (5, 3, 32, 32) and out.min() >= 0 and out.max() <= 1


def test_rotnet_learns_and_scores():
    images = torch.zeros(16, 1, 32, 32)
    images[:, :, 4:12, 4:28] = 1                               # an asymmetric bar: rotation is visible
    rot = zhu.RotNet(1, width=4, stem_stride=2)
    history = rot.fit(images, iterations=30, batch_size=8, lr=0.05, progress=False)
    assert history.series("accuracy")[-1] > 0.5
    scores = rot.score(images)
    assert scores.shape == (16,) and (scores >= -4 - 1e-5).all() and (scores <= 0).all()


def test_two_stage_freezes_the_encoder_and_scores_eq10():
    torch.manual_seed(0)
    images = torch.rand(12, 1, 32, 32)
    rot = zhu.RotNet(1, width=4, stem_stride=2)
    rot.fit(images, iterations=2, batch_size=4, lr=0.1, progress=False)
    before = {k: v.clone() for k, v in rot.encoder.state_dict().items()}
    model = zhu.TwoStage(rot.encoder, ngf=4, lam=0.5)
    history = model.fit(images, iterations=3, batch_size=4, lr=1e-3, progress=False)
    assert {"mse", "ssim", "loss"} <= set(history.losses[0])
    for key, value in model.encoder.state_dict().items():     # weights and BN statistics
        assert torch.equal(value, before[key]), key
    mse, ssim = model.score_terms(images)
    assert torch.allclose(model.score(images), mse - 0.5 * ssim)
    assert torch.allclose(model.score(images, lam=2.0), mse - 2.0 * ssim)
    x1, x2 = model.reconstruct_both(images[:3])
    assert x1.shape == x2.shape == (3, 1, 32, 32)


def test_cae_trains_end_to_end():
    images = torch.rand(8, 3, 32, 32)
    cae = zhu.CAE(3, width=4, stem_stride=2, ngf=4)
    first = cae.encoder.conv1.weight.clone()
    cae.fit(images, iterations=2, batch_size=4, lr=1e-3, progress=False)
    assert not torch.equal(first, cae.encoder.conv1.weight)
    assert cae.score(images).shape == (8,)


def test_deep_svdd_is_bias_free_and_reduces_its_objective():
    model = baselines.DeepSVDD(1, size=32)
    assert not any("bias" in name for name, _ in model.named_parameters())
    assert all(not m.affine for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    torch.manual_seed(0)
    data = torch.rand(64, 1, 32, 32)
    history = model.fit(data, iterations=60, batch_size=32, lr=1e-3, progress=False)
    assert (model.center.abs() >= model.eps - 1e-7).all()
    losses = history.series()
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert model.score(data).shape == (64,)
    assert baselines.DeepSVDD(3, size=32).net.rep_dim == 128   # the CIFAR-10 LeNet


def test_pixel_baselines_of_the_chapter_separate_obvious_outliers():
    # the chapter's OC-SVM and PCA floor are the detectors ``ocsvm`` and ``pca``
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 64)) * 0.05

    def inliers(n):
        return np.clip(0.5 + rng.normal(size=(n, 3)) @ basis, 0, 1).reshape(n, 1, 8, 8).astype(np.float32)

    test = np.r_[inliers(50), rng.uniform(size=(50, 1, 8, 8)).astype(np.float32)]
    pca = detectors.get("pca", channels=1, image_size=8, variance=0.9).fit(inliers(200))
    scores = pca.predict(test).scores
    assert pca.components <= 3 and scores[50:].min() > scores[:50].max()
    svm = detectors.get("ocsvm", channels=1, image_size=8, nu=0.1).fit(inliers(200)).predict(test).scores
    assert svm[50:].mean() > svm[:50].mean()


# ------------------------------------------------------------------------------- data

def test_mnist_subset_is_stratified_and_deterministic():
    a, b = oneclass.mnist_subset(0.7), oneclass.mnist_subset(0.7)
    assert a.train_x.shape == (3500, 1, 28, 28) and a.test_x.shape == (1500, 1, 28, 28)
    assert np.bincount(a.train_y).tolist() == [350] * 10
    assert np.array_equal(a.test_y, b.test_y) and np.array_equal(a.train_x, b.train_x)
    assert 0 <= a.train_x.min() and a.train_x.max() <= 1
    train, test, anomalous = a.one_class(8, max_train=100)
    assert len(train) == 100 and len(test) == 1500 and anomalous.sum() == 1350


def test_bad_class_index_and_single_class_fail_clearly():
    ds = oneclass.mnist_subset()
    with pytest.raises(IndexError, match=r"out of range .* valid indices are 0\.\.9"):
        ds.one_class(10)
    x = np.zeros((4, 1, 8, 8), np.float32)
    with pytest.raises(oneclass.DataLayoutError, match="needs at least 2"):
        oneclass.ClassificationSet("one", x, np.zeros(4, int), x, np.zeros(4, int), ["only"])


def test_pad_to():
    x = np.ones((2, 1, 28, 28), np.float32)
    padded = oneclass.pad_to(x, 32)
    assert padded.shape == (2, 1, 32, 32) and padded.sum() == x.sum() and padded[0, 0, 0, 0] == 0
    assert oneclass.pad_to(torch.from_numpy(x)).shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="larger than"):
        oneclass.pad_to(np.ones((1, 1, 40, 40)), 32)


def _tree(root: Path, classes=("cat", "dog"), colour=False):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(3):
                shape = (20, 24, 3) if colour else (20, 24)
                Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(root / split / c / f"{i}.png")
    return root


def test_image_folder_loads_grey_and_colour(tmp_path):
    grey = oneclass.image_folder(_tree(tmp_path / "g"), size=32)
    assert grey.train_x.shape == (6, 1, 32, 32) and grey.classes == ["cat", "dog"]
    colour = oneclass.load(f"imagefolder:c", data_root=str(_tree(tmp_path / "c", colour=True).parent))
    assert colour.test_x.shape == (6, 3, 32, 32)


def test_image_folder_layout_errors(tmp_path):
    (tmp_path / "flat" / "cat").mkdir(parents=True)
    with pytest.raises(oneclass.DataLayoutError, match="no train and no test sub-folder"):
        oneclass.image_folder(tmp_path / "flat")
    with pytest.raises(oneclass.DataLayoutError, match="needs at least 2"):
        oneclass.image_folder(_tree(tmp_path / "single", classes=("only",)))
    with pytest.raises(oneclass.DataLayoutError, match="unknown dataset"):
        oneclass.load("SVHN")


def test_torchvision_missing_root_without_download_fails_clearly(tmp_path):
    with pytest.raises(oneclass.DataLayoutError, match="cannot load torchvision MNIST"):
        oneclass.torchvision_set("MNIST", tmp_path, download=False)


@pytest.mark.skipif(not (os.environ.get("ADLIB_DATA") and
                         (Path(os.environ.get("ADLIB_DATA", "")) / "MNIST" / "raw").is_dir()),
                    reason="needs ADLIB_DATA with MNIST in torchvision layout")
def test_torchvision_mnist_from_adlib_data():
    ds = oneclass.torchvision_set("MNIST", os.environ["ADLIB_DATA"], download=False)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)


@pytest.mark.slow
def test_chapter_rejects_out_of_range_class(tmp_path):
    from adlib.execute import execute
    with pytest.raises(SystemExit, match="out of range"):
        execute("zhu_two_stage_rotnet", "smoke", tmp_path, extra={"classes": [12]})


def test_rotnet_cosine_schedule_anneals_the_learning_rate():
    rot = zhu.RotNet(1, width=4, stem_stride=2, cosine_steps=4)
    rot.fit(torch.rand(8, 1, 32, 32), iterations=4, batch_size=4, lr=0.1, progress=False)
    assert rot._scheduler.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- detectors

QUICK = {"width": 4, "stem_stride": 2}


def blurry(n, channels, size, seed):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, 5, 5, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def test_small_images_are_padded_centred_and_large_ones_resized():
    x = torch.rand(2, 1, 28, 28)
    padded = zhu.to_input_size(x)
    assert padded.shape == (2, 1, 32, 32) and torch.equal(padded[..., 2:30, 2:30], x)
    assert padded[..., :2, :].abs().sum() == 0
    assert torch.equal(zhu.from_input_size(padded, (28, 28)), x)
    assert torch.equal(zhu.from_input_size(padded[:, 0], (28, 28)), x[:, 0])        # maps (N, H, W)
    big = torch.rand(2, 3, 40, 40)
    assert zhu.to_input_size(big).shape == (2, 3, 32, 32)
    assert zhu.from_input_size(zhu.to_input_size(big)[:, 0], (40, 40)).shape == (2, 40, 40)
    assert zhu.to_input_size(torch.rand(1, 1, 20, 30)).shape == (1, 1, 32, 32)     # non-square, padded


def test_two_stage_detector_scores_eq10_from_its_extras_and_maps_x_hat_1():
    train, test = blurry(8, 1, 28, 0), blurry(5, 1, 28, 1)
    detector = detectors.get("zhu_two_stage", channels=1, seed=0, ngf=4, lam=0.5, **QUICK)
    prediction = detector.fit(train, iterations=2, batch_size=4, progress=False).predict(test)
    extra = prediction.extra
    assert set(extra) == {"mse", "ssim", "rotnet"}
    assert np.allclose(prediction.scores, extra["mse"] + 0.5 * extra["ssim"])
    assert (extra["ssim"] <= 1 + 1e-6).all() and (extra["rotnet"] <= 0).all()
    first, second = detector.reconstruct_both(test)
    assert first.shape == second.shape == (5, 1, 28, 28)
    assert torch.equal(detector.reconstruct(test), first)
    assert np.allclose(prediction.maps, ((test - first) ** 2).mean(1).numpy(), atol=1e-6)
    # stage 1 takes fit's budget unless told otherwise
    assert len(detector.rotnet_history.losses) == 2 and len(detector.history.losses) == 2
    other = detectors.get("zhu_two_stage", channels=1, ngf=4, rot_iterations=3, rot_batch_size=2, **QUICK)
    other.fit(train, iterations=2, batch_size=4, progress=False)
    assert len(other.rotnet_history.losses) == 3


def test_the_two_stage_rotnet_extra_is_the_rotnet_detector_of_the_same_seed():
    train, test = blurry(8, 1, 28, 0), blurry(5, 1, 28, 1)
    two = detectors.get("zhu_two_stage", channels=1, seed=2, ngf=4, rot_iterations=3, rot_batch_size=4, **QUICK)
    extra = two.fit(train, iterations=2, batch_size=8, progress=False).predict(test).extra["rotnet"]
    rot = detectors.get("zhu_rotnet", channels=1, seed=2, **QUICK).fit(train, iterations=3, batch_size=4,
                                                                       progress=False)
    assert np.array_equal(extra, rot.predict(test).scores)


def test_cae_detector_maps_and_reconstructions_at_the_input_resolution():
    train, test = blurry(8, 3, 40, 0), blurry(3, 3, 40, 1)
    cae = detectors.get("zhu_cae", channels=3, ngf=4, **QUICK).fit(train, iterations=2, batch_size=4,
                                                                    progress=False)
    prediction = cae.predict(test)
    assert prediction.maps.shape == (3, 40, 40) and cae.reconstruct(test).shape == (3, 3, 40, 40)


def test_zhu_detectors_reject_bad_settings_with_the_fix():
    with pytest.raises(ValueError, match="multiple of 4"):
        detectors.get("zhu_two_stage", width=6)
    with pytest.raises(ValueError, match="stem_stride"):
        detectors.get("zhu_cae", stem_stride=3)
    with pytest.raises(ValueError, match="lam"):
        detectors.get("zhu_two_stage", lam=-1.0)
    with pytest.raises(ValueError, match="rot_iterations.*None"):
        detectors.get("zhu_two_stage", rot_iterations=0)
    with pytest.raises(ValueError, match="weight_decay"):
        detectors.get("deep_svdd", weight_decay=-1.0)
    with pytest.raises(RuntimeError, match="fit"):
        detectors.get("zhu_two_stage").reconstruct_both(torch.rand(1, 1, 28, 28))


# ------------------------------------------------------------------ chapter: settings and experiment

def test_the_chapter_parameters_are_checked_and_map_onto_the_detectors():
    defaults = notebook_defaults("zhu_two_stage_rotnet")
    params = P.check(defaults, set(), paper.PARAMETERS)
    paper.check_parameters(params)
    for profile in ("smoke", "quick", "paper"):
        settings = paper.method_settings(merged_parameters("zhu_two_stage_rotnet", profile))
        assert set(settings) == set(paper.ALL_METHODS)
        for setting in settings.values():         # every hyperparameter is one the detector knows
            detectors.get(setting.detector, **setting.hyperparameters)
    table = paper.settings_table(paper.method_settings(params), ["Two-stage", "PCA"])
    assert table["detector"].tolist() == ["zhu_two_stage", "pca"] and table["steps × batch"][1] == "–"
    for change, message in (({"datasets": []}, "empty"), ({"datasets": [3]}, "list of names"),
                            ({"classes": [1.5]}, "class indices"), ({"encoder_width": 6}, "multiple of 4"),
                            ({"methods": []}, "empty")):
        with pytest.raises(P.ParameterError, match=message):
            paper.check_parameters({**params, **change})


def tiny_set(classes=3, size=12, per_class=6, name="tiny") -> oneclass.ClassificationSet:
    """Each class a blurry pattern of its own plus noise (test = 4 per class)."""
    rng = np.random.default_rng(0)
    patterns = blurry(classes, 1, size, 7).numpy()

    def split(n):
        y = np.repeat(np.arange(classes), n)
        x = np.clip(patterns[y] + 0.05 * rng.normal(size=(len(y), 1, size, size)), 0, 1).astype(np.float32)
        return x, y.astype(np.int64)

    (train_x, train_y), (test_x, test_y) = split(per_class), split(4)
    return oneclass.ClassificationSet(name, train_x, train_y, test_x, test_y, [f"c{k}" for k in range(classes)])


def tiny_settings(**change):
    params = {**notebook_defaults("zhu_two_stage_rotnet"), "encoder_width": 4, "stem_stride": 2, "decoder_ngf": 4,
              "rot_iterations": 2, "rot_batch": 4, "dec_iterations": 2, "dec_batch": 4, "cae_iterations": 2,
              "svdd_iterations": 2, **change}
    return paper.method_settings(params)


@pytest.fixture(scope="module")
def tiny_run():
    ds = tiny_set()
    return ds, paper.run_one_class(ds, [0, 2], [0, 1], paper.ALL_METHODS, tiny_settings(), "cpu", figure_images=2)


def test_run_one_class_runs_every_method_class_and_seed(tiny_run):
    ds, run = tiny_run
    assert len(run.records) == 2 * 2 * len(paper.ALL_METHODS)
    assert set(run.terms) == set(run.cae_errors) == {(0, 0), (0, 1), (2, 0), (2, 1)}
    assert len(run.ablation) == 4 and set(run.curves) == set(run.panels) == {0, 2}
    assert set(run.curves[0]) == set(paper.ALL_METHODS) and len(run.class_seconds) == 4
    panel = run.panels[2]
    assert panel["input"].shape == panel["CAE"].shape == panel["Two-stage x̂₂"].shape == (4, 1, 12, 12)
    assert panel["labels"][:2].tolist() == [2, 2] and 2 not in panel["labels"][2:]
    auroc = {(r["method"], r["class"], r["seed"]): r["auroc"] for r in run.records}
    for method in ("OC-SVM", "PCA"):                  # untrained: fitted once per class
        assert auroc[method, 0, 0] == auroc[method, 0, 1]
    # every model has a health; the table rows split the two-stage model into its three networks
    assert set(run.health) == {(m, k, s) for m in paper.ALL_METHODS for k in (0, 2) for s in (0, 1)}
    assert run.health["PCA", 0, 0].status == "not trained"
    assert run.health["RotNet", 2, 1].checks == paper.stage_health(run.health["Two-stage", 2, 1], "rotnet_").checks
    models = [r["model"] for r in run.health_rows if r["class"] == "c0" and r["seed"] == 0]
    assert models == ["RotNet = Two-stage stage 1", "Two-stage MSE decoder x̂₁", "Two-stage SSIM decoder x̂₂",
                      "CAE", "Deep SVDD"]
    assert "error_ratio" in run.health_rows[1]["health"].checks
    healths = paper.method_healths({ds.name: run})[ds.name]
    assert set(healths["CAE"]) == {f"CAE (normal c{k}, seed {s})" for k in (0, 2) for s in (0, 1)}
    stored = []
    paper.record_health({ds.name: run}, type("Run", (), {"add_health": lambda self, h, **keys: stored.append(keys)})())
    assert len(stored) == 20 and stored[0] == {"dataset": ds.name, "model": "RotNet = Two-stage stage 1 (normal c0)",
                                               "seed": 0}
    text = paper.health_prose({ds.name: run})
    assert text.startswith("all 20 trained networks") or "of the 20 trained networks are not healthy — " in text
    # the RotNet score is the two-stage model's stage 1: the same as the RotNet detector alone
    alone = paper.run_one_class(ds, [0], [1], ["RotNet"], tiny_settings(), "cpu", figure_images=2)
    assert alone.records[0]["auroc"] == auroc["RotNet", 0, 1]


def test_the_tables_of_the_chapter(tiny_run):
    ds, run = tiny_run
    runs = {ds.name: run}
    summary = results.summarise(runs)
    assert list(summary[ds.name]) == list(paper.ALL_METHODS)
    two = summary[ds.name]["Two-stage"]
    assert two["seeds"] == 2 and two["classes"] == ["c0", "c2"] and len(two["per_class"]) == 2
    assert results.per_class_wide(runs).shape == (len(paper.ALL_METHODS), 2)
    table = results.table1(summary)
    assert table["published"].isna().all() and "OCGAN" not in set(table.method)   # no paper column
    renamed = {"mnist_subset": summary[ds.name]}
    table = results.table1(renamed).set_index("method")
    assert table.loc["OCGAN", "published"] == 97.5 and np.isnan(table.loc["OCGAN", "ours"])
    assert table.loc["CAE", "Δ (ours − published)"] == pytest.approx(summary[ds.name]["CAE"]["mean"] - 92.6)
    assert [h["published"] for h in paper.headline(renamed)] == [97.3, 92.6]
    assert results.mean_glues(summary, ds.name)["mean_two"] == two["mean"]
    ablation, sweep = results.term_ablation(runs), results.lambda_sweep(runs)
    at_one = sweep[sweep["λ"] == 1.0]["auroc"].iloc[0]         # the build's λ is 1
    assert at_one == pytest.approx(ablation.loc[ds.name, "MSE − λ·SSIM"])
    assert sweep[sweep["λ"] == 0.0]["auroc"].iloc[0] == pytest.approx(ablation.loc[ds.name, "MSE term only"])
    contrast = results.error_contrast(runs)
    assert list(contrast.columns) == ["CAE", "Two-stage x̂₁"] and (contrast.to_numpy() > 0).all()
    assert results.timing(runs, 2)["classes"].tolist() == [2]
    assert len(results.published_records()) == 6


def test_the_tables_without_the_two_stage_model():
    ds = tiny_set(classes=2)
    run = paper.run_one_class(ds, [1], [0], ["CAE", "PCA"], tiny_settings(), "cpu", figure_images=1)
    runs = {ds.name: run}
    assert results.term_ablation(runs).empty and results.lambda_sweep(runs).empty
    assert list(results.error_contrast(runs).columns) == ["CAE"]
    assert np.isnan(results.mean_glues(results.summarise(runs), ds.name)["mean_two"])
    assert results.verdict(results.summarise(runs), results.error_contrast(runs).to_dict(orient="index"), 1) == []
    assert isinstance(results.plot_lambda(results.lambda_sweep(runs), 1.0), plt.Figure)


def test_the_figures_of_the_chapter(tiny_run):
    ds, run = tiny_run
    runs = {ds.name: run}
    for fig in (results.plot_per_class(runs), results.plot_lambda(results.lambda_sweep(runs), 1.0),
                results.plot_reconstructions(run, 2, 2), results.plot_class_frame(run, 0)):
        assert isinstance(fig, plt.Figure)
        plt.close(fig)
    slider = results.class_slider(run, 2)
    assert slider.children[0].index == 1                       # class 2 is the second frame


# ------------------------------------------------------------------------------ verdict

def summary_of(dataset="mnist_subset", **means):
    names = {"two": "Two-stage", "cae": "CAE", "rot": "RotNet", "svdd": "Deep SVDD", "svm": "OC-SVM", "pca": "PCA"}
    return {dataset: {names[k]: {"mean": v} for k, v in means.items()}}


def test_verdict_leaves_the_main_claims_to_the_claims_table():
    lines = results.verdict(summary_of(two=97.3, cae=92.6), {}, n_seeds=3)
    assert not any("OCGAN" in line or "Two-stage vs CAE" in line for line in lines)
    assert lines[0].startswith("- **mnist_subset**: the two-stage model ranks 1 of 2")


def test_verdict_ranks_and_pca_floor():
    clears = results.verdict(summary_of(two=95.0, cae=90.0, rot=98.0, pca=80.0), {}, 3)[0]
    assert clears == ("- **mnist_subset**: the two-stage model ranks 2 of 4 (best: RotNet, 98.0); the linear "
                      "PCA floor is 80.0, and every deep method clears it.")
    one = results.verdict(summary_of(two=95.0, cae=85.0, pca=88.0), {}, 3)[0]
    assert one.endswith("the linear PCA floor is 88.0, and CAE falls below it.")
    two = results.verdict(summary_of(two=95.0, cae=85.0, svm=80.0, pca=88.0), {}, 3)[0]
    assert two.endswith("CAE, OC-SVM fall below it.")
    best = results.verdict(summary_of(two=99.0, cae=85.0), {}, 3)[0]
    assert best == "- **mnist_subset**: the two-stage model ranks 1 of 2 (best: Two-stage, 99.0)."


def test_verdict_one_seed_caveat():
    one = results.verdict(summary_of(two=95.0, cae=85.0, pca=88.0), {}, 1)[0]
    assert one.endswith("CAE falls below it (one seed: differences of about a point or less between methods "
                        "are not established).")
    assert "one seed" not in " ".join(results.verdict(summary_of(two=95.0, cae=85.0), {}, 2))


@pytest.mark.parametrize("ratio,expected", [
    (1.5, "the frozen RotNet encoder does make anomalies harder to reconstruct, as the paper argues."),
    (1.22, "about the same contrast (within 5 %)"),
    (1.0, "the CAE separates the errors better, contrary to the paper's Fig 1 argument."),
])
def test_verdict_on_the_error_contrast(ratio, expected):
    lines = results.verdict(summary_of(two=95.0, cae=85.0), {"mnist_subset": {"CAE": 1.2, "Two-stage x̂₁": ratio}}, 3)
    assert lines[-1].startswith("- **Reconstruction of anomalies (mnist_subset)**: anomalous test images have "
                                f"1.20× the median error of normal ones under the CAE and {ratio:.2f}×")
    assert expected in lines[-1]


def test_verdict_without_mnist_or_without_the_methods_it_compares():
    cifar = results.verdict(summary_of("CIFAR10", two=70.0, cae=60.0), {"CIFAR10": {"CAE": 1.1}}, 3)
    assert len(cifar) == 2 and cifar[0].startswith("- **CIFAR10**: the two-stage model ranks 1 of 2")
    assert cifar[1].startswith("- **Fashion-MNIST** (the two-stage model ahead of the baselines there too): untested")
    fashion = results.verdict({**summary_of(two=97.3, cae=92.6), **summary_of("FashionMNIST", two=90.0)}, {}, 3)
    assert not any("untested" in line for line in fashion)
    assert results.verdict(summary_of(two=95.0, pca=90.0), {}, 3)[0].startswith("- **mnist_subset**: the two")
    assert results.verdict(summary_of(cae=95.0, pca=90.0), {"mnist_subset": {"CAE": 1.1, "Two-stage x̂₁": float("nan")}},
                         3) == []


# ------------------------------------------------------------------- verdict: health and terms

OK, SICK = health.Health("healthy"), health.Health("collapsed", {}, ["outputs barely follow inputs"])


def healths_of(dataset="mnist_subset", **bad):
    """{dataset: {method: {label: Health}}}: every method healthy but those named in ``bad``."""
    names = {"two": "Two-stage", "cae": "CAE", "rot": "RotNet", "svdd": "Deep SVDD", "svm": "OC-SVM", "pca": "PCA"}
    return {dataset: {m: {f"{m} (normal 8, seed 0)": SICK if key in bad else OK} for key, m in names.items()}}


def test_verdict_with_every_model_healthy_is_the_plain_verdict():
    summary, contrast = summary_of(two=95.0, cae=85.0, pca=88.0), {"mnist_subset": {"CAE": 1.2, "Two-stage x̂₁": 1.5}}
    assert results.verdict(summary, contrast, 3, healths=healths_of()) == results.verdict(summary, contrast, 3)


def test_verdict_inconclusive_when_the_cae_collapsed():
    summary = summary_of(two=95.0, cae=85.0, svdd=90.0, pca=88.0)
    contrast = {"mnist_subset": {"CAE": 1.2, "Two-stage x̂₁": 1.5}}
    lines = results.verdict(summary, contrast, 1, healths=healths_of(cae=True))
    assert lines[0].startswith("- **mnist_subset**: the two-stage model ranks 1 of 3 (best: Two-stage, 95.0)")
    assert "left out of the ranking: CAE, inconclusive (CAE (normal 8, seed 0) collapsed)" in lines[0]
    assert lines[-1].startswith("- **Reconstruction of anomalies (mnist_subset)**: **inconclusive (CAE (normal 8")
    assert "as the paper argues" not in lines[-1]


def test_verdict_inconclusive_everywhere_when_the_two_stage_model_collapsed():
    summary = summary_of(two=95.0, cae=85.0, pca=88.0)
    terms = {"mnist_subset": {"MSE term only": 80.0, "SSIM term only": 94.0, "MSE − λ·SSIM": 95.0}}
    lines = results.verdict(summary, {"mnist_subset": {"CAE": 1.2, "Two-stage x̂₁": 1.5}}, 1,
                          healths=healths_of(two=True), terms=terms)
    blocked = "**inconclusive (Two-stage (normal 8, seed 0) collapsed)**"
    claims = [line for line in lines if "untested" not in line]
    assert len(claims) == 3 and all(blocked in line for line in claims)
    assert not any(word in " ".join(claims) for word in ("reproduced", "within one point", "ranks", "carries the result"))
    assert claims[1] == ("- **Which term carries the two-stage score (mnist_subset)**: " + blocked
                         + "; measured: MSE term alone 80.0, SSIM term alone 94.0, the score 95.0.")


@pytest.mark.parametrize("mse,ssim,expected", [
    (80.0, 94.0, "the SSIM branch carries the result; the rotation pre-training alone (the MSE decoder, same "
                 "loss as the CAE) is -5.0 points against the CAE's 85.0, behind."),
    (94.0, 80.0, "the MSE decoder on the frozen RotNet encoder carries the result; the rotation pre-training "
                 "alone (the MSE decoder, same loss as the CAE) is +9.0 points"),
    (85.5, 85.0, "both terms do about as well (within one point); the rotation pre-training alone (the MSE "
                 "decoder, same loss as the CAE) is +0.5 points against the CAE's 85.0, a tie within one point."),
])
def test_verdict_says_which_term_carries_the_score(mse, ssim, expected):
    terms = {"mnist_subset": {"MSE term only": mse, "SSIM term only": ssim, "MSE − λ·SSIM": 95.0}}
    lines = results.verdict(summary_of(two=95.0, cae=85.0), {}, 1, healths=healths_of(), terms=terms)
    line = next(line for line in lines if "Which term" in line)
    assert f"MSE term alone {mse:.1f}, SSIM term alone {ssim:.1f}, the score 95.0 — " in line and expected in line


def test_inverted_aurocs_and_single_seeds_are_labelled():
    assert results.auroc_text(42.0) == "42.0 (inverted; 100 − AUROC = 58.0)" and results.auroc_text(97.25) == "97.2"
    assert results.auroc_text(float("nan")) == "–"
    one = {"mnist_subset": {"CAE": {"mean": 40.0, "std": 0.0, "seeds": 1}}}
    table = results.table1(one).set_index("method")
    assert np.isnan(table.loc["CAE", "± (seeds)"])
    line = results.verdict({"mnist_subset": {"Two-stage": {"mean": 45.0}, "CAE": {"mean": 40.0}}}, {}, 1)[0]
    assert "(best: Two-stage, 45.0 (inverted; 100 − AUROC = 55.0))" in line


def _same(a: paper.OneClassRun, b: paper.OneClassRun) -> None:
    """The same runs up to float rounding (another process may use another number of threads)."""
    assert [{**r, "auroc": pytest.approx(r["auroc"], abs=1e-9)} for r in a.records] == b.records
    assert [pytest.approx(row, abs=1e-9) for row in a.ablation] == b.ablation
    for key, h in a.health.items():
        assert h.status == b.health[key].status
        assert h.checks == pytest.approx(b.health[key].checks, rel=1e-4, abs=1e-6)
    for k in a.panels:
        for name, image in a.panels[k].items():
            np.testing.assert_allclose(image, b.panels[k][name], atol=1e-5)


def test_classes_as_grid_jobs_in_processes_give_the_serial_numbers(tiny_run):
    """executor="processes" runs each normal class in its own (spawned) process: same numbers, same order."""
    ds, serial = tiny_run
    parallel = paper.run_one_class(ds, [0, 2], [0, 1], paper.ALL_METHODS, tiny_settings(), "cpu", figure_images=2,
                                   executor="processes", workers=2)
    _same(serial, parallel)
    assert [r["class"] for r in parallel.records] == [r["class"] for r in serial.records]


def test_finished_classes_are_stored_as_grid_jobs_and_a_rerun_resumes(tiny_run, tmp_path, monkeypatch):
    ds, serial = tiny_run
    store = tmp_path / "classes"
    run = functools.partial(paper.run_one_class, ds, [0, 2], [0, 1], paper.ALL_METHODS, tiny_settings(), "cpu",
                            figure_images=2, store=store)
    first = run()
    _same(serial, first)
    stored = {json.loads(p.read_text())["spec"]["k"]: p for p in store.glob("*.json")}      # adlib.grid's store
    assert set(stored) == {0, 2} and first.reused_classes == []
    stored[2].unlink()                                                        # as if killed before class 2
    ran = []
    real = paper.run_class
    monkeypatch.setattr(paper, "run_class", lambda job: ran.append(job.k) or real(job))
    steps = type("Run", (), {"step_seconds": {}})()
    second = run(run=steps)
    assert ran == [2] and second.reused_classes == [0]
    assert set(steps.step_seconds) == {f"{ds.name}: {m}" for m in paper.ALL_METHODS if m != "RotNet"}
    _same(serial, second)
    ran.clear()
    assert run().reused_classes == [0, 2] and ran == []                       # nothing trained again
    # other settings are another key: nothing reused
    other = paper.run_one_class(ds, [0], [0], ["PCA"], tiny_settings(pca_variance=0.5), "cpu", figure_images=2,
                                store=store)
    assert other.reused_classes == [] and ran == [0]


def test_a_failing_class_is_reported_and_the_others_are_kept(tmp_path, monkeypatch, capsys):
    ds = tiny_set(classes=3)
    real = paper.run_class

    def broken(job):
        if job.k == 1:
            raise FloatingPointError("class 1 diverged")
        return real(job)

    monkeypatch.setattr(paper, "run_class", broken)
    run = functools.partial(paper.run_one_class, ds, [0, 1, 2], [0], ["PCA"], tiny_settings(), "cpu",
                            figure_images=1, store=tmp_path)
    with pytest.raises(RuntimeError, match="normal class c1 failed .*FloatingPointError: class 1 diverged"):
        run()
    err = capsys.readouterr().err
    assert f"grid: job failed ({ds.name}, normal class c1)" in err and "Traceback" in err
    assert len(list(tmp_path.glob("*.json"))) == 2                          # classes 0 and 2 are stored
    monkeypatch.setattr(paper, "run_class", real)
    assert run().reused_classes == [0, 2]
