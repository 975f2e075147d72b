"""Fadaeinejad chapter: the CAE of Tables 1–2, Algorithm 1, pixel metrics, the object generator."""

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import precision_recall_fscore_support

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
