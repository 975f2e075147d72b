"""Conformance of every registered detector to the one interface (adlib.detectors)."""

import numpy as np
import pytest
import torch

from adlib import detectors

# Every method the study runs (issue: one detector interface for chapters and benchmark).
EXPECTED = {
    "schneider_cae", "schneider_vae", "schneider_aae", "soukup_vae", "fadaeinejad_cae",
    "zhu_two_stage", "zhu_cae", "zhu_rotnet", "deep_svdd", "saeedi_cpcae", "saeedi_ae_l2",
    "deep_feature_knn", "variation", "nearest_neighbour", "ocsvm", "pca",
}
NAMES = sorted(detectors.REGISTRY)


def smooth_images(n: int, channels: int, size: int, seed: int) -> torch.Tensor:
    """Blurry random images in [0, 1] (white noise would make every detector's job trivial)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, 6, 6, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def fitted(name: str, channels: int, size: int, seed: int) -> detectors.Detector:
    cls = detectors.REGISTRY[name]
    detector = detectors.get(name, channels=channels, image_size=size, seed=seed, **cls.quick_check)
    return detector.fit(smooth_images(8, channels, size, 0), iterations=2, batch_size=4, progress=False)


def test_the_registry_holds_every_method():
    assert EXPECTED <= set(NAMES), f"missing: {sorted(EXPECTED - set(NAMES))}"
    for row in detectors.names():
        assert row["description"] and row["image score"] and row["label"], row


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels,size", [(1, 28), (1, 40), (3, 28), (3, 40)])
def test_predict_shapes_dtypes_and_finite_scores(name, channels, size):
    detector = fitted(name, channels, size, seed=0)
    test = smooth_images(5, channels, size, 1)
    prediction = detector.predict(test)
    assert prediction.scores.shape == (5,) and prediction.scores.dtype == np.float64
    assert np.isfinite(prediction.scores).all()
    if detector.localises:
        assert prediction.maps.shape == (5, size, size) and prediction.maps.dtype == np.float32
        assert np.isfinite(prediction.maps).all()
    else:
        assert prediction.maps is None
    for key, values in prediction.extra.items():
        assert values.shape == (5,) and np.isfinite(values).all(), key
    for key in detector.reported_extras:
        assert key in prediction.extra, key


@pytest.mark.parametrize("name", NAMES)
def test_the_seed_decides_the_scores(name):
    test = smooth_images(5, 1, 32, 1)
    first = fitted(name, 1, 32, seed=3).predict(test).scores
    again = fitted(name, 1, 32, seed=3).predict(test).scores
    # bit equality holds here: same process, same thread count, CPU kernels run in the same order
    assert np.array_equal(first, again), "the same seed must give bit-identical scores on the CPU"
    if detectors.REGISTRY[name].takes_steps:
        other = fitted(name, 1, 32, seed=4).predict(test).scores
        assert not np.array_equal(first, other), "a different seed must change a trained detector"


def test_bad_input_fails_with_a_message_that_names_the_fix():
    with pytest.raises(ValueError, match="unknown detector"):
        detectors.get("schneider")
    with pytest.raises(ValueError, match="unknown hyperparameter.*variance"):
        detectors.get("pca", variance_kept=0.5)
    detector = detectors.get("pca", channels=1)
    with pytest.raises(ValueError, match="channels=3"):
        detector.fit(torch.rand(4, 3, 16, 16))
    with pytest.raises(ValueError, match=r"x / 255"):
        detector.fit(torch.rand(4, 1, 16, 16) * 255)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        detector.fit(torch.rand(4, 16, 16))
    with pytest.raises(RuntimeError, match="fit"):
        detector.predict(torch.rand(2, 1, 16, 16))


def test_the_readme_lists_every_detector():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [name for name in NAMES if f"`{name}`" not in readme]
    assert not missing, f"README.md does not list {missing}"


def test_every_detector_and_extra_score_has_a_family_of_the_study():
    """The benchmark, the overview and the verdicts group by family: never by words in a label."""
    from adlib import benchmark
    from adlib.detectors.base import FAMILIES
    for name, cls in detectors.REGISTRY.items():
        assert cls.family in FAMILIES, name
        assert set(cls.extra_families) <= set(cls.reported_extras), name
        for label in cls.reported_extras.values():
            assert benchmark.family(name, label) in FAMILIES
    assert benchmark.family("soukup_vae", "VAE latent (Soukup)") != benchmark.family("soukup_vae", "VAE (Soukup)")
    assert benchmark.family("zhu_two_stage", "RotNet (Zhu, stage 1 of the two-stage model)") == "self-supervised"


def test_a_hyperparameter_that_a_class_attribute_would_hide_is_refused():
    from adlib.detectors.base import Detector

    with pytest.raises(TypeError, match="iterations"):
        class Shadowing(Detector):          # noqa: F841 (defined to be refused)
            defaults = {"iterations": 5, "width": 2}
