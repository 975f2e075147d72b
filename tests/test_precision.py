"""Training precision (adlib.precision): each mode is correct; speed is measured by make speed, not here."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from adlib import detectors, precision, training
from adlib.models.schneider import CAE

# What bf16 training must give: a detector that ranks the test images like the fp32 one, at
# least about as well as fp32 agrees with itself under another seed. A fixed floor on the rank
# correlation would test this CPU: some models of these 40-step fits rank noise (RotNet's
# rho between two fp32 seeds measured 0.54 with 2 threads and 0.58 with 1, so even fp32 is
# not thread-stable there), and bf16 kernels differ by CPU. Slack: Spearman's rho over 32
# images at rho ~ 0.55 has a sampling SE of about (1 - rho^2) / sqrt(31) = 0.13; measured
# rho(bf16, fp32) - rho(fp32 seed 0, seed 1) ranged -0.02 to +0.23 over every detector with
# default threads, OMP_NUM_THREADS=1 and taskset -c 0, so 0.2 is about 1.5 SE below the seed's.
RANK_SLACK = 0.2
TRAINED = [name for name, cls in detectors.REGISTRY.items() if cls.takes_steps]


def _images(n: int, size: int = 32, anomalous: bool = False, seed: int = 0) -> torch.Tensor:
    """Smooth grey gradients; anomalous ones carry a bright square of random size and place."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.2, 0.6, size)
    x = np.stack([np.add.outer(ramp * rng.uniform(0.5, 1.0), ramp * rng.uniform(0.5, 1.0)) / 2 for _ in range(n)])
    x += rng.normal(0, 0.01, x.shape)
    if anomalous:
        for image in x:
            side = rng.integers(4, 12)
            top, left = rng.integers(0, size - side, 2)
            image[top:top + side, left:left + side] = 1.0
    return torch.as_tensor(x.clip(0, 1), dtype=torch.float32)[:, None]


@pytest.mark.parametrize("name", TRAINED)
def test_bf16_training_ranks_like_fp32_as_closely_as_another_seed_does(name):
    train = _images(24)
    test = torch.cat([_images(16, seed=1), _images(16, anomalous=True, seed=2)])
    scores = {}
    for mode, seed in (("fp32", 0), ("fp32", 1), ("bf16", 0)):
        detector = detectors.get(name, channels=1, image_size=32, seed=seed, **detectors.REGISTRY[name].quick_check)
        detector.fit(train, iterations=40, batch_size=8, precision=mode, progress=False)
        assert detector.history.precision == mode
        scores[mode, seed] = detector.predict(test).scores
    assert np.isfinite(scores["bf16", 0]).all()
    rho_bf16 = spearmanr(scores["fp32", 0], scores["bf16", 0]).statistic
    rho_seed = spearmanr(scores["fp32", 0], scores["fp32", 1]).statistic
    assert rho_bf16 >= rho_seed - RANK_SLACK, (
        f"{name}: bf16 training ranks the test images unlike fp32 (Spearman {rho_bf16:.3f}; "
        f"another fp32 seed: {rho_seed:.3f})")


def test_auto_keeps_fp32_below_the_threshold_and_is_then_identical_to_fp32():
    train, test = _images(16), _images(6, anomalous=True, seed=3)
    scores = {}
    for mode in ("fp32", "auto"):
        detector = detectors.get("schneider_cae", channels=1, image_size=32, seed=0, patch=16)
        detector.fit(train, iterations=10, batch_size=8, precision=mode, progress=False)
        scores[mode] = detector.predict(test).scores
    assert detector.history.precision == "fp32" and 0 < detector.history.step_gflop < precision.BF16_MIN_GFLOP["cpu"]
    # bit equality holds here: same process, same thread count, CPU kernels run in the same order
    np.testing.assert_array_equal(scores["auto"], scores["fp32"])


def test_auto_chooses_bf16_for_a_costly_step_on_a_bf16_device_and_leaves_the_model_in_fp32(monkeypatch):
    monkeypatch.setitem(precision.BF16_MIN_GFLOP, "cpu", 1e-6)
    monkeypatch.setattr(precision, "bf16_native", lambda device: True)
    model = CAE(input_size=16, in_channels=1)
    seen = []
    original = model.train_step

    def spy(batch, optimizers):
        seen.append((model.precision, batch.is_contiguous(memory_format=torch.channels_last)))
        return original(batch, optimizers)

    monkeypatch.setattr(model, "train_step", spy)
    history = training.fit(model, _images(16, size=16), iterations=3, batch_size=4, precision="auto", progress=False)
    assert history.precision == "bf16" and history.step_gflop > 0
    assert seen[0][0] == "fp32"                        # the counted first step
    assert all(mode == "bf16" and channels_last for mode, channels_last in seen[1:])
    assert model.precision == "fp32"                   # scoring is float32
    assert all(p.is_contiguous() for p in model.parameters())
    assert len(history.losses) == 3 and all(isinstance(v, float) for v in history.losses[0].values())


def test_a_model_marked_unsafe_or_a_device_without_bf16_stays_fp32(monkeypatch):
    model = CAE(input_size=16, in_channels=1)
    monkeypatch.setattr(precision, "bf16_native", lambda device: True)
    assert precision.choose(model, 1e6, "cpu") == "bf16"
    model.bf16_safe = False
    assert precision.choose(model, 1e6, "cpu") == "fp32"
    monkeypatch.setattr(precision, "bf16_native", lambda device: False)
    assert precision.choose(CAE(input_size=16, in_channels=1), 1e6, "cpu") == "fp32"


def test_an_unknown_precision_is_refused_with_the_valid_ones():
    detector = detectors.get("schneider_cae", channels=1, image_size=32, patch=16)
    with pytest.raises(ValueError, match=r"precision='fp16' is not one of \('auto', 'fp32', 'bf16'\)"):
        detector.fit(_images(8), iterations=2, precision="fp16")


def test_losses_are_read_back_in_bulk_and_a_nan_names_its_iteration():
    class Exploding(CAE):
        def loss(self, x):
            loss, logs = super().loss(x)
            self.calls = getattr(self, "calls", 0) + 1
            return (loss * float("nan"), {"loss": loss.detach() * float("nan")}) if self.calls == 7 else (loss, logs)

    history = training.fit(CAE(input_size=16, in_channels=1), _images(8, size=16), iterations=training.READ_EVERY + 3,
                           batch_size=4, precision="fp32", progress=False)
    assert len(history.losses) == training.READ_EVERY + 3
    with pytest.raises(training.DivergedError, match="at iteration 7"):
        training.fit(Exploding(input_size=16, in_channels=1), _images(8, size=16), iterations=20, batch_size=4,
                     precision="fp32", progress=False)
