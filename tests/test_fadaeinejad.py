"""Fadaeinejad chapter: the CAE of Tables 1–2, Algorithm 1, pixel metrics, the object generator."""

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import precision_recall_fscore_support

from adlib import health, metrics
from adlib.data import folders, objects
from adlib.models import fadaeinejad as F


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shapes_latent_and_output_range(size):
    model = F.CAE(size, in_channels=3, latent=500).eval()
    x = torch.rand(2, 3, size, size)
    assert model.encode(x).shape == (2, 500)          # a 1×1 code of 500 channels
    out = model(x)
    assert out.shape == x.shape
    assert out.min() >= 0 and out.max() <= 1          # sigmoid output


def test_paper_size_uses_an_8x8_latent_kernel():
    model = F.CAE(256)
    convs = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    deconvs = [m for m in model.decoder if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(convs) == 10 and len(deconvs) == 10
    assert convs[-1].kernel_size == (8, 8) and convs[-1].out_channels == 500
    assert deconvs[0].kernel_size == (8, 8) and deconvs[0].in_channels == 500
    assert [(c.in_channels, c.out_channels) for c in convs][:3] == [(3, 3), (3, 32), (32, 32)]


def test_decoder_mirrors_the_encoder_after_dropping_rows_7_to_9():
    assert len(F.DECODER_ROWS_AS_PRINTED) == 13
    mirrored = [(c_out, c_in, k, s) for c_in, c_out, k, s in reversed(F.ENCODER_ROWS)]
    assert F.DECODER_ROWS == mirrored
    # the printed table does not chain: row 7 takes 64 channels after row 6 outputs 32
    assert F.DECODER_ROWS_AS_PRINTED[5][1] != F.DECODER_ROWS_AS_PRINTED[6][0]


def test_batchnorm_and_leakyrelu_settings():
    model = F.CAE(64)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.momentum == 0.1 and m.eps == 1e-6 for m in norms)
    acts = [m for m in model.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert acts and all(m.negative_slope == 0.01 for m in acts)
    assert isinstance(model.decoder[-1], torch.nn.Sigmoid)
    assert isinstance(model.encoder[-1], torch.nn.BatchNorm2d)     # the code ends with BatchNorm


def test_bad_sizes_are_clear_errors():
    with pytest.raises(ValueError, match="multiple of 32"):
        F.CAE(100)
    with pytest.raises(ValueError, match="built for inputs"):
        F.CAE(64)(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="built for inputs"):
        F.CAE(64)(torch.rand(1, 1, 64, 64))


def test_algorithm1_residual_is_the_channel_max_of_the_absolute_error():
    model = F.CAE(32).eval()
    x = torch.rand(3, 3, 32, 32)
    expected = (x - model.reconstruct(x)).abs().amax(dim=1)
    assert torch.allclose(model.residual_map(x), expected)
    assert torch.allclose(model.anomaly_map(x), expected)
    residual = np.array([[0.1, 0.3], [0.2, 0.25]])
    assert F.detect(residual, 0.2).tolist() == [[False, True], [False, True]]


def test_training_reduces_the_loss_and_is_seeded():
    images = torch.rand(8, 3, 32, 32) * 0.2 + 0.4
    runs = []
    for _ in range(2):
        torch.manual_seed(3)                       # the weights' initialisation
        runs.append(F.CAE(32, latent=16).fit(images, iterations=15, batch_size=4, seed=3, progress=False))
    assert runs[0].series() == runs[1].series()
    assert np.mean(runs[0].series()[-3:]) < np.mean(runs[0].series()[:3])


def test_pixel_scores_match_scikit_learn():
    rng = np.random.default_rng(0)
    residual = rng.uniform(size=(3, 16, 16))
    masks = rng.uniform(size=(3, 16, 16)) > 0.8
    for tau in (0.1, 0.5, 0.9):
        ours = F.pixel_scores(residual, masks, tau)
        p, r, f, _ = precision_recall_fscore_support(masks.ravel(), residual.ravel() > tau,
                                                     average="binary", zero_division=0)
        assert (ours.precision, ours.recall, ours.f1) == pytest.approx((p, r, f))
    taus = np.linspace(0.05, 0.95, 19)
    curve = F.f1_curve(residual, masks, taus)
    assert curve == pytest.approx([F.pixel_scores(residual, masks, t).f1 for t in taus])
    assert F.best_tau(residual, masks, taus) == taus[int(np.argmax(curve))]
    assert F.per_image_f1(residual, masks, 0.5).shape == (3,)
    with pytest.raises(ValueError, match="mask pixels"):
        F.pixel_scores(residual, masks[:2], 0.5)


def test_paper_thresholds_and_table3_inconsistency():
    assert F.paper_tau("hole") == 0.25 and F.paper_tau("crack") == 0.2
    assert F.harmonic_f1(0.82, 0.22) == pytest.approx(0.35, abs=0.005)     # print: consistent
    assert F.harmonic_f1(0.80, 0.69) != pytest.approx(0.57, abs=0.05)      # cut: not
    assert F.harmonic_f1(0.61, 0.55) != pytest.approx(0.75, abs=0.05)      # hole: not


def test_augmentation_keeps_originals_and_is_seeded():
    images = np.random.default_rng(0).uniform(size=(4, 3, 32, 32)).astype(np.float32)
    a, b = F.augment(images, 12, seed=1), F.augment(images, 12, seed=1)
    assert a.shape == (12, 3, 32, 32) and torch.equal(a, b)
    assert torch.equal(a[:4], torch.from_numpy(images))
    assert a.min() >= 0 and a.max() <= 1
    with pytest.raises(ValueError, match="original"):
        F.augment(images, 2)


def test_generator_shapes_masks_and_seed():
    data = objects.hazelnut_like(n_train=3, n_test_good=2, n_test_per_defect=2, size=64, seed=5)
    assert data.train.shape == (3, 3, 64, 64) and data.test.shape == (10, 3, 64, 64)
    assert data.train.dtype == np.float32 and 0 <= data.test.min() and data.test.max() <= 1
    types = np.array(data.defect_types)
    assert set(types) == {"good", *objects.DEFECTS}
    assert not data.masks[types == "good"].any()
    assert all(m.any() for m in data.masks[types != "good"])
    assert (data.labels == (types != "good")).all()
    again = objects.hazelnut_like(n_train=3, n_test_good=2, n_test_per_defect=2, size=64, seed=5)
    assert np.array_equal(data.test, again.test) and np.array_equal(data.masks, again.masks)
    # pose and texture vary: no two training objects are the same
    assert not np.allclose(data.train[0], data.train[1])
    with pytest.raises(ValueError, match="unknown defect"):
        objects.hazelnut_like(n_train=1, defects=["scratch"], size=64)


def test_defects_change_the_masked_pixels():
    for defect in objects.DEFECTS:
        image, mask = objects.render(96, np.random.default_rng(1), defect)
        good, _ = objects.render(96, np.random.default_rng(1), None)
        # same object (same random stream up to the defect), changed inside the mask
        assert np.abs(image - good).max(axis=0)[mask].mean() > 0.1, defect


def test_calibration_split_is_disjoint_and_keeps_good_images_for_test():
    types = ["good"] * 3 + ["crack"] * 5 + ["hole"] * 2
    val, test = objects.calibration_split(types, 2)
    assert set(val).isdisjoint(test) and len(val) + len(test) == len(types)
    assert all(types[i] != "good" for i in val)
    assert sorted(types[i] for i in val) == ["crack", "crack", "hole"]


def _category(root, with_masks=True, mask_size=(32, 32)):
    cat = root / "nut"
    for sub in ("train/good", "test/good", "test/crack"):
        (cat / sub).mkdir(parents=True)
    pixels = (np.random.default_rng(0).uniform(size=(32, 32, 3)) * 255).astype(np.uint8)
    for sub, name in (("train/good", "000.png"), ("train/good", "001.png"), ("test/good", "000.png"),
                      ("test/crack", "000.png"), ("test/crack", "001.png")):
        Image.fromarray(pixels).save(cat / sub / name)
    if with_masks:
        (cat / "ground_truth" / "crack").mkdir(parents=True)
        for stem in ("000", "001"):
            mask = np.zeros(mask_size[::-1], np.uint8)
            mask[4:9, 4:9] = 255
            Image.fromarray(mask).save(cat / "ground_truth" / "crack" / f"{stem}_mask.png")
    return cat


def test_real_category_loads(tmp_path):
    data = objects.load_category_with_masks(_category(tmp_path), size=32)
    assert data.test.shape == (3, 3, 32, 32) and data.masks[data.labels == 1].any()


def test_category_without_masks_names_the_folder(tmp_path):
    cat = _category(tmp_path, with_masks=False)
    with pytest.raises(folders.DataLayoutError, match="ground_truth"):
        objects.load_category_with_masks(cat, size=32)
    (cat / "ground_truth" / "crack").mkdir(parents=True)
    with pytest.raises(folders.DataLayoutError, match=r"000\.png"):
        objects.load_category_with_masks(cat, size=32)


def test_mask_of_the_wrong_size_names_the_file(tmp_path):
    cat = _category(tmp_path, mask_size=(40, 32))
    with pytest.raises(ValueError, match=r"000_mask\.png"):
        objects.load_category_with_masks(cat, size=32)


def test_category_without_defects_is_an_error(tmp_path):
    cat = _category(tmp_path)
    import shutil
    shutil.rmtree(cat / "test" / "crack")
    with pytest.raises(folders.DataLayoutError, match="no defect folder"):
        objects.load_category_with_masks(cat, size=32)


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_profile_parameters_are_known_to_the_chapter(profile):
    # the paper profile cannot run on a CPU here: at least its parameter names and the
    # CAE it builds must be valid
    from adlib.execute import merged_parameters

    merged = merged_parameters("fadaeinejad_cae_pixels", profile)
    assert merged["image_size"] % 32 == 0 and merged["augmented_size"] >= merged["n_train"]
    F.CAE(merged["image_size"], 3, max(merged["latent_sizes"]))


# --------------------------------------------------------------------------- the detector

def test_detector_is_the_chapters_pipeline():
    """detectors.get('fadaeinejad_cae') at the data's size trains exactly the CAE the chapter
    used to build by hand: same weights from the seed, same Algorithm 1 maps."""
    from adlib import detectors, runtime

    x = torch.rand(6, 3, 32, 32) * 0.5 + 0.25
    test = torch.rand(3, 3, 32, 32)
    runtime.seed_everything(3)
    by_hand = F.CAE(32, 3, latent=8)
    by_hand.fit(x, iterations=3, batch_size=4, seed=3, progress=False)
    detector = detectors.get("fadaeinejad_cae", channels=3, image_size=32, seed=3, work_size=32, latent=8)
    prediction = detector.fit(x, iterations=3, batch_size=4, progress=False).predict(test)
    assert torch.equal(torch.from_numpy(prediction.maps), by_hand.residual_map(test))
    assert torch.equal(detector.reconstruct(test), by_hand.reconstruct(test))
    assert detector.parameter_count == F.count_parameters(by_hand)
    assert detector.training_images == 6                     # no augmentation by default


def test_detector_resizes_to_work_size_and_back_and_augments():
    from adlib import detectors
    from adlib.detectors.base import smoothed_max

    detector = detectors.get("fadaeinejad_cae", channels=1, image_size=40, seed=0, work_size=32, latent=4,
                             augment_to=10, noise_std=0.05)
    detector.fit(torch.rand(4, 1, 40, 40), iterations=2, batch_size=4, progress=False)
    assert detector.training_images == 10 and detector.network.input_size == 32
    test = torch.rand(2, 1, 40, 40)
    prediction = detector.predict(test)
    assert prediction.maps.shape == (2, 40, 40) and 0 <= prediction.maps.min() and prediction.maps.max() <= 1
    np.testing.assert_array_equal(prediction.scores, smoothed_max(prediction.maps))
    assert detector.reconstruct(test).shape == (2, 1, 40, 40)
    # the paper's model: 256 pixels, RGB, latent 500, counted without fitting
    assert detectors.get("fadaeinejad_cae", channels=3).parameter_count == F.count_parameters(F.CAE())


@pytest.mark.parametrize("setting, message", [
    ({"work_size": 100}, "multiple of 32"), ({"latent": 0}, "latent"), ({"lr": 0}, "lr"),
    ({"augment_to": 0}, "augmentation"), ({"noise_std": -1}, "noise_std")])
def test_detector_refuses_bad_hyperparameters(setting, message):
    from adlib import detectors

    with pytest.raises(ValueError, match=message):
        detectors.get("fadaeinejad_cae", **setting)


def test_detector_methods_need_a_fit():
    from adlib import detectors

    with pytest.raises(RuntimeError, match="fit"):
        detectors.get("fadaeinejad_cae", work_size=32).reconstruct(torch.rand(1, 1, 32, 32))


# --------------------------------------------------------------------------- adlib.papers.fadaeinejad

def test_published_table3_and_its_inconsistent_rows():
    from adlib.papers import fadaeinejad as fad

    table = fad.published_table().set_index("defect")
    assert list(table.index) == ["print", "crack", "cut", "hole"]
    assert table.loc["print", "precision (paper)"] == 0.82 and table.loc["print", "recall (paper)"] == 0.22
    assert table["consistent"].to_dict() == {"print": True, "crack": True, "cut": False, "hole": False}
    assert fad.inconsistent_rows().startswith("cut (printed 0.57, from P and R 0.74), hole")
    assert len(fad.published_other_methods()) == 4
    assert fad.PUBLISHED["tau_by_defect"] == {"hole": 0.25}


def test_check_parameters_names_the_problem():
    from adlib import params as P
    from adlib.papers import fadaeinejad as fad

    good = {"image_size": 64, "augmented_size": 8, "n_train": 6, "latent_sizes": [8, 500]}
    fad.check_parameters(good)
    for change, message in (({"image_size": 48}, "multiple of 32"), ({"augmented_size": 2}, "at least n_train"),
                            ({"n_train": 4}, "health check"),
                            ({"latent_sizes": []}, "latent_sizes"), ({"latent_sizes": [8, True]}, "latent_sizes")):
        with pytest.raises(P.ParameterError, match=message):
            fad.check_parameters({**good, **change})
    fad.check_parameters({**good, "augmented_size": 2}, data_root="/real/data")   # real data: no augmentation count


@pytest.fixture(scope="module")
def tiny_run():
    from adlib import detectors
    from adlib.papers import fadaeinejad as fad

    split = fad.load_data(None, None, image_size=32, n_train=6, n_test_good=2, n_test_per_defect=2,
                          n_val_per_defect=2, real_max_train=4, real_max_test_per_type=2, seed=0)
    models, healths = fad.fit_models(split, [2, 4], 4, channels=3, image_size=32, seed=0, iterations=2,
                                     batch_size=4, work_size=32, augment_to=6)
    cae = models[4]
    return split, cae, cae.predict(split.images("val")).maps, cae.predict(split.images("test")).maps, models, healths


def test_the_chapters_experiments_on_tiny_data(tiny_run):
    import matplotlib.pyplot as plt

    from adlib.papers import fadaeinejad as fad

    split, cae, r_val, r_test, models, healths = tiny_run
    assert split.defects == list(objects.DEFECTS)
    assert set(split.types("val")) == set(objects.DEFECTS) and set(split.val).isdisjoint(split.test)
    assert split.counts().loc["validation"].sum() == len(split.val)
    assert split.dataset["name"] == "hazelnut_like" and split.dataset["train"] == 6
    # four good images held out for the health check, never fitted on
    assert len(split.held_out) == 4 and len(split.train) == 2 and cae.train_size == (32, 32)
    assert set(split.fit_index).isdisjoint(split.held_index) and split.dataset["held_out_for_health"] == 4
    assert set(healths) == {2, 4} and all(h.status in health.STATUSES for h in healths.values())
    taus = fad.tau_grid(0.1)
    assert taus[0] == 0.1 and taus[-1] == 0.7
    per_defect, chosen = fad.per_defect_scores(r_val, r_test, split, taus)
    assert len(per_defect) == 2 * len(split.defects) and set(chosen) == set(split.defects)
    paper_hole = per_defect[(per_defect.defect == "hole") & (per_defect.tau_source == "paper")]
    assert paper_hole.tau.item() == 0.25
    assert len(fad.comparison_table(per_defect)) == 4 and len(fad.validation_table(per_defect)) == 4
    field = fad.field_metrics(cae.predict(split.images("test")), split)
    assert set(field) == {"image_auroc", "image_ap", "f1_max", "pixel_auroc", "aupro"}
    assert field["pixel_auroc"] == metrics.pixel_auroc(r_test, split.masks("test"))
    sweep = fad.tau_sweep(r_test, split, taus, chosen)
    assert all(len(curve) == len(taus) for curve in sweep["f1"].values())
    assert {d: len(v) for d, v in fad.per_image_f1(r_test, split).items()} == {d: 2 for d in objects.DEFECTS}
    assert all(0 <= v <= 1 for v in fad.auroc_by_defect(r_test, split).values())
    assert [h["published"] for h in fad.headline(per_defect)] == [0.36, 0.57, 0.75, 0.35]
    rows = fad.latent_sweep(models, split, taus)
    assert [r["latent"] for r in rows] == [2, 4] and rows[1]["final_loss"] == fad.final_loss(cae.history)
    lines = fad.verdict(per_defect, sweep, rows, healths=healths, main_latent=4)
    assert len(lines) == 1 + 4 + 1 + 2 + 1 and all(line.startswith("- **") for line in lines)
    figures = [fad.figure_data(split), fad.figure_loss(cae.history), fad.figure_per_image(fad.per_image_f1(r_test, split)),
               fad.figure_panels(cae, split, r_test), fad.slider_frame(split, r_test, 0.2)[0],
               fad.figure_tau_sweep(sweep), fad.figure_tau_examples(split, r_test)[0], fad.figure_latent(rows)]
    assert all(isinstance(f, plt.Figure) for f in figures)
    plt.close("all")


# --------------------------------------------------------------------------- the verdict's wording

TAUS_V = [round(t, 2) for t in np.arange(0.05, 0.7001, 0.05)]
PEAKED = [0.8 - abs(t - 0.3) for t in TAUS_V]             # falls on both sides
RISING = [0.1 + t for t in TAUS_V]                          # its peak is at τ = 0.7
LATENT = {"small": 0.5, "middle": 0.7, "large": 0.5}


def _verdict(curves, validation_gain=0.0, latent=None, published=None, best_ours="crack", healths=None):
    from adlib.papers import fadaeinejad as fad

    per_defect = []
    for d in curves:
        paper = 0.4 if d == best_ours else 0.3
        per_defect += [{"defect": d, "tau_source": "paper", "tau": F.paper_tau(d), "f1": paper},
                       {"defect": d, "tau_source": "validation", "tau": 0.3, "f1": paper + validation_gain}]
    sweep = {"taus": TAUS_V, "f1": curves, "validation_tau": {d: 0.3 for d in curves}}
    latent = LATENT if latent is None else latent
    rows = [{"latent": size, "f1_validation_tau": f1, "pixel_auroc": 0.9} for size, f1 in
            zip((16, 500, 2000)[:len(latent)], latent.values())]
    return fad.verdict(per_defect, sweep, rows, published, healths=healths, main_latent=500)


def test_verdict_counts_the_types_where_f1_falls_at_both_ends():
    assert "both fall more than 0.02 below its peak for 2 of 2 defect types" in _verdict({"crack": PEAKED, "hole": PEAKED})[0]
    assert "for 1 of 2 defect types" in _verdict({"crack": PEAKED, "hole": RISING})[0]
    assert "for 0 of 2 defect types" in _verdict({"crack": RISING, "hole": [0.5] * len(TAUS_V)})[0]
    assert "holds" not in _verdict({"crack": PEAKED, "hole": PEAKED})[0]     # the claims table decides


def test_verdict_states_each_types_numbers():
    line = _verdict({"crack": PEAKED, "hole": PEAKED})[2]
    assert line == ("- **τ, hole**: F1 0.60 at τ = 0.1, 0.30 at the paper's τ = 0.25, 0.40 at τ = 0.7; "
                    "the validation split chose τ = 0.30, where the test F1 is 0.30.")


def test_verdict_on_whether_the_papers_tau_transfers():
    curves = {"crack": PEAKED}
    assert "τ must be chosen per setting" in _verdict(curves, validation_gain=0.1)[2]
    assert "+0.10 against" in _verdict(curves, validation_gain=0.1)[2]
    assert "the paper's τ is close to the best here." in _verdict(curves, validation_gain=0.01)[2]


NO_DIFFERENCE = "makes no difference beyond the tolerance in this range."


@pytest.mark.parametrize("latent, small, large, ending", [
    ({"small": 0.5, "middle": 0.7, "large": 0.5}, "**yes** (0.200", "**yes** (0.200",
     "Both sides of their trade-off are visible."),
    ({"small": 0.5, "middle": 0.7, "large": 0.7}, "**yes** (0.200", "**no difference** (0.000",
     "only partly visible in this range."),
    ({"small": 0.7, "middle": 0.7, "large": 0.6}, "**no difference** (0.000", "**yes** (0.100",
     "only partly visible in this range."),
    # differences inside the tolerance (0.02 for F1) are no difference, however they fall
    ({"small": 0.7, "middle": 0.71, "large": 0.7}, "**no difference** (0.010", "**no difference** (0.010",
     NO_DIFFERENCE),
])
def test_verdict_latent_size_branches(latent, small, large, ending):
    line = _verdict({"crack": PEAKED}, latent=latent)[3]
    assert line.startswith("- **Latent size, mean F1** (their §7.2; sizes 16, 500, 2000)")
    assert f"*Too small hurts*: {small} below the best); *too large hurts*: {large} below the best)" in line
    assert "within the tolerance of 0.02 counts as no difference" in line and line.endswith(ending)
    auroc = _verdict({"crack": PEAKED}, latent=latent)[4]          # pixel AUROC 0.9 everywhere
    assert auroc.startswith("- **Latent size, pixel AUROC**") and auroc.endswith(NO_DIFFERENCE)
    assert "tolerance of 0.005" in auroc


def test_verdict_with_one_latent_size_says_the_claim_is_untested():
    lines = _verdict({"crack": PEAKED}, latent={"only": 0.5})
    assert lines[3] == "- **Latent size** (their §7.2): only latent 16 was run, so the trade-off is not tested here."
    assert len(lines) == 5


def test_verdict_on_their_table3():
    from adlib.papers import fadaeinejad as fad

    line = _verdict({"cut": PEAKED, "crack": PEAKED}, best_ours="crack")[-1]
    assert line == ("- **Their Table 3**: F1 of cut, hole does not follow from the printed precision and "
                    "recall; with F1 recomputed, their best type is cut and ours (paper τ) is crack.")
    assert _verdict({"cut": PEAKED, "crack": PEAKED}, best_ours="cut")[-1].endswith("ours (paper τ) is cut too.")
    consistent = fad.published_table().assign(consistent=True)
    assert "F1 of no row does not follow" in _verdict({"crack": PEAKED}, published=consistent)[-1]


# --------------------------------------------------------------------------- verdicts consume health

HEALTHY = health.Health("healthy")
COLLAPSED = health.Health("collapsed", reasons=["outputs barely follow inputs"])
UNDER = health.Health("under-trained", reasons=["loss still falling"])


def test_verdict_with_healthy_models_keeps_its_outcomes():
    lines = _verdict({"crack": PEAKED, "hole": PEAKED}, validation_gain=0.1,
                     healths={16: HEALTHY, 500: HEALTHY, 2000: HEALTHY})
    assert lines == _verdict({"crack": PEAKED, "hole": PEAKED}, validation_gain=0.1)
    assert not any("inconclusive" in line for line in lines)


def test_verdict_on_a_collapsed_main_model_is_inconclusive_for_tau_and_table3():
    lines = _verdict({"crack": PEAKED, "hole": PEAKED}, validation_gain=0.1,
                     healths={16: HEALTHY, 500: COLLAPSED, 2000: HEALTHY})
    assert lines[0] == ("- **Too high or too low a τ lowers F1** (their §7.1): "
                        "inconclusive (CAE, latent 500 collapsed).")
    assert lines[3].endswith("against the paper's τ: inconclusive (CAE, latent 500 collapsed).")
    assert "τ must be chosen" not in lines[3]
    # the latent sweep includes the collapsed model too
    assert lines[4].endswith("Their trade-off: inconclusive (CAE, latent 500 collapsed).")
    assert "*Too small hurts*" not in lines[4] and "*Too small hurts*" not in lines[5]
    # their Table 3's own inconsistency stands; our side does not
    assert lines[-1].startswith("- **Their Table 3**: F1 of cut, hole does not follow")
    assert lines[-1].endswith("; our best type: inconclusive (CAE, latent 500 collapsed).")


def test_verdict_on_an_unhealthy_sweep_model_leaves_the_tau_claims_standing():
    lines = _verdict({"crack": PEAKED}, healths={16: UNDER, 500: HEALTHY, 2000: COLLAPSED})
    assert "for 1 of 1 defect types" in lines[0]
    bad = "inconclusive (CAE, latent 16 under-trained; CAE, latent 2000 collapsed)."
    assert lines[3].endswith(bad) and lines[4].endswith(bad)
    assert lines[3].startswith("- **Latent size, mean F1** (their §7.2; sizes 16, 500, 2000): best 0.700")
    assert lines[-1].endswith("ours (paper τ) is crack.")


def test_health_sentence_names_the_unhealthy_models():
    from adlib.papers import fadaeinejad as fad

    assert fad.health_sentence({16: HEALTHY, 500: HEALTHY}) == "all 2 models are healthy"
    assert fad.health_sentence({16: UNDER, 500: HEALTHY}) == (
        "1 of 2 models are not healthy: CAE, latent 16 is under-trained (loss still falling)")


def test_the_likeness_sentence_says_when_outputs_look_alike():
    from adlib import health
    from adlib.papers import fadaeinejad as fad

    alike = health.assess({"steps": 100, "mse": 0.7, "mean_image_mse": 1.0, "error_ratio": 0.7, "spread_ratio": 0.72})
    text = fad.likeness_sentence(alike, 2000)
    assert text.startswith("the CAE with latent 2000 reproduces 72% of the inputs' spread and reaches 0.70×")
    assert "look alike from image to image" in text and "mean image is itself a strong predictor" in text
    assert "bottle" not in text                       # no sentence about data this build may not hold
    follows = health.assess({"steps": 100, "mse": 0.3, "mean_image_mse": 1.0, "error_ratio": 0.3, "spread_ratio": 0.95})
    assert fad.likeness_sentence(follows, 16).endswith("its outputs follow their inputs")
