"""Zhu et al.: RotNet encoder, two-stage model, one-class baselines and one-class data."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models.resnet import BasicBlock, ResNet

from adlib.data import oneclass
from adlib.models import oneclass_baselines as baselines
from adlib.models import zhu


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
    with pytest.raises(ValueError, match="pad 28-px images"):
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


def test_linear_baselines_separate_obvious_outliers():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 64))
    normal = rng.normal(size=(200, 3)) @ basis
    test_normal = rng.normal(size=(50, 3)) @ basis
    outliers = rng.normal(size=(50, 64)) * 3
    test = np.r_[test_normal, outliers]
    pca, k = baselines.pca_scores(normal, test, 0.9)
    assert k <= 3 and pca[50:].min() > pca[:50].max()
    svm = baselines.ocsvm_scores(normal, test, nu=0.1)
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
