"""adlib.health: each check on hand-built cases with a known answer, and every detector's health."""

import numpy as np
import pytest
import torch

from adlib import detectors, health
from adlib.detectors import REGISTRY


def _images(n=40, seed=0):
    """Smooth random blobs: learnable structure plus variety across images."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:16, 0:16] / 15.0
    centres = rng.random((n, 2))
    return np.exp(-((xx - centres[:, 0, None, None]) ** 2 + (yy - centres[:, 1, None, None]) ** 2) / 0.05)[:, None]


def test_reconstruction_checks_identity_and_mean_predictor():
    x = _images()
    mean = x.mean(axis=0)
    perfect = health.reconstruction_checks(x, x, mean)
    assert perfect["error_ratio"] == 0 and perfect["spread_ratio"] == pytest.approx(1.0)
    constant = health.reconstruction_checks(x, np.repeat(mean[None], len(x), 0), mean)
    assert constant["error_ratio"] == pytest.approx(1.0) and constant["spread_ratio"] == 0
    assert health.assess(constant).status == "collapsed"
    halfway = health.reconstruction_checks(x, (x + mean) / 2, mean)       # error 1/4 of the mean's
    assert halfway["error_ratio"] == pytest.approx(0.25) and halfway["spread_ratio"] == pytest.approx(0.5)
    assert health.assess(halfway).status == "healthy"


def _discs(n=30, seed=0):
    """Discs at random places with a fine ring texture: shape and detail that vary per image."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64)
    cy, cx = rng.uniform(10, 22, (2, n, 1, 1))
    r = np.hypot(yy - cy, xx - cx)
    return ((r < 9) * (0.5 + 0.3 * np.cos(2.0 * r + rng.uniform(0, 6, (n, 1, 1)))))[:, None]


def test_detail_check_flags_a_blurred_average_and_passes_a_faithful_reconstruction():
    from torchvision.transforms.functional import gaussian_blur

    x = torch.as_tensor(_discs())
    mean = x.mean(dim=0)
    faithful = health.detail_checks(x, x + 0.02 * torch.randn_like(x), mean)
    assert faithful["detail_ratio"] < 0.1 and health.assess(faithful).status == "healthy"
    # the same blurred disc for every input: no detail the mean image lacks
    blurred_average = gaussian_blur(mean[None], [9, 9], [3.0, 3.0]).expand_as(x)
    flagged = health.assess(health.detail_checks(x, blurred_average, mean))
    assert flagged.status == "under-trained" and "detail" in flagged.reasons[0]
    # each input blurred a little: its edges are kept, the check passes
    assert health.detail_checks(x, gaussian_blur(x, [5, 5], [0.7, 0.7]), mean)["detail_ratio"] < health.DETAIL_RATIO_MAX
    assert health.detail_checks(torch.rand(4, 8), torch.rand(4, 8), torch.rand(8)) == {}    # not images: no check


def test_loss_checks_flag_unconverged_and_spiking_losses():
    steps = np.arange(1000)
    converged = 1 + np.exp(-steps / 100)
    assert health.assess(health.loss_checks(converged)).status == "healthy"
    linear = 2 - steps / 1000                                             # still falling at the end
    checks = health.loss_checks(linear)
    assert checks["tail_drop"] == pytest.approx(0.1, abs=0.02)
    assert health.assess(checks).status == "under-trained"
    spiky = converged.copy()
    spiky[600:650] += 5                                                    # a blow-up mid-training
    assert health.assess(health.loss_checks(spiky)).status == "diverged"
    rising = 1 + steps / 1000
    result = health.assess(health.loss_checks(rising))
    assert result.status in ("under-trained", "diverged") and not result.usable
    noisy = converged + np.random.default_rng(0).normal(0, 0.02, 1000)
    assert health.assess(health.loss_checks(noisy)).status == "healthy"
    flat = 1 + np.random.default_rng(1).normal(0, 0.02, 1000)           # never learnt: noise, no drop
    checks = health.loss_checks(flat)
    assert checks["relative_drop"] < health.LOSS_DROP_MIN and checks["spike"] < 0.2   # rises vs its level
    result = health.assess(checks)
    assert result.status == "under-trained" and "barely fell" in result.reasons[0]


def test_rotation_and_distance_checks():
    assert health.assess(health.rotation_checks(0.26)).status == "collapsed"
    assert health.assess(health.rotation_checks(0.4)).status == "under-trained"
    assert health.assess(health.rotation_checks(0.9)).status == "healthy"
    assert health.assess(health.distance_checks(np.full(10, 0.3))).status == "collapsed"
    assert health.assess(health.distance_checks(np.linspace(0.1, 1, 10))).status == "healthy"


def test_combine_takes_the_worst_and_records_are_json_ready():
    ok, bad = health.Health("healthy", {"a": 1.0}), health.Health("collapsed", {"a": float("nan")}, ["flat"])
    both = health.Health.combine(ok, bad, prefixes=["one_", "two_"])
    assert both.status == "collapsed" and both.checks == {"one_a": 1.0, "two_a": both.checks["two_a"]}
    assert both.reasons == ["two: flat"]
    record = both.record(dataset="d", model="m", seed=1)
    assert record["checks"]["two_a"] is None and record["status"] == "collapsed"
    assert health.inconclusive({"m": both}) == "inconclusive (m collapsed)"
    assert health.inconclusive({"m": ok}) is None
    frame = health.table([record])
    assert list(frame.columns[:4]) == ["dataset", "model", "seed", "status"]
    parts = health.Health("healthy", {"one_error_ratio": 0.3, "two_error_ratio": 0.6, "two_spread_ratio": 0.7})
    row = health.table([parts.record(dataset="d", model="m", seed=0)]).iloc[0]
    assert row.error_ratio == 0.6 and row.spread_ratio == 0.7            # the worst part


def test_hold_out_is_seeded_disjoint_and_checks_size():
    x = np.arange(50)
    train, held = health.hold_out(x, 0.1, seed=3)
    assert len(held) == 5 and len(train) == 45 and not set(train) & set(held)
    assert np.array_equal(health.hold_out(x, 0.1, seed=3)[1], held)
    with pytest.raises(ValueError, match="at least 5"):
        health.hold_out(np.arange(4), 0.1)


def test_a_trained_autoencoder_is_healthy_and_an_untrained_one_is_not():
    x = _images(80).astype(np.float32)
    train, held = health.hold_out(x, 0.2, seed=0)
    good = detectors.get("zhu_cae", channels=1, image_size=16, width=4, stem_stride=2, ngf=8, lr=1e-3)
    good.fit(train, iterations=400, batch_size=32, progress=False)
    report = good.health(held)
    assert report.status == "healthy", report.summary()
    short = detectors.get("zhu_cae", channels=1, image_size=16, width=4, stem_stride=2, ngf=8, lr=1e-5)
    short.fit(train, iterations=40, batch_size=32, progress=False)
    assert not short.health(held).usable


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_detector_reports_a_health(name):
    cls = REGISTRY[name]
    x = _images(12).astype(np.float32)
    detector = detectors.get(name, channels=1, image_size=16, **cls.quick_check)
    with pytest.raises(RuntimeError, match="fit"):
        detector.health(x)
    detector.fit(x[:8], iterations=25, batch_size=4, progress=False)
    report = detector.health(torch.as_tensor(x[8:]))
    assert report.status in health.STATUSES
    assert (report.status == "not trained") == (not cls.takes_steps)
    if cls.takes_steps:
        assert report.checks and all(isinstance(k, str) for k in report.checks)
    with pytest.raises(ValueError, match="at least 2"):
        detector.health(x[:1])


def test_a_custom_error_judges_a_decoder_in_its_own_loss():
    x = torch.as_tensor(_images(20)).float()
    shifted = (x * 0.5 + 0.25)                       # right structure, wrong brightness and contrast
    mse = health.reconstruction_checks(x, shifted, x.mean(0))
    own = health.reconstruction_checks(x, shifted, x.mean(0), error=lambda a, b: ((a - b) ** 2).flatten(1).mean(1))
    assert own["error_ratio"] == pytest.approx(mse["error_ratio"])
    l1 = health.reconstruction_checks(x, x, x.mean(0), error=lambda a, b: (a - b).abs().flatten(1).mean(1))
    assert l1["error_ratio"] == 0
