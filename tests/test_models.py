import pytest
import torch

from adlib import health, training
from adlib.runtime import seed_everything
from adlib.models import schneider
from adlib.patches import assemble, grid_patches, image_anomaly_maps, random_crops, reconstruct_images


@pytest.mark.parametrize("kind", ["CAE", "VAE", "AAE"])
@pytest.mark.parametrize("variant", ["synthetic", "industrial"])
def test_shapes_and_bottleneck(kind, variant):
    model = schneider.build(kind, input_size=32, variant=variant, in_channels=3)
    x = torch.rand(2, 3, 32, 32)
    assert model(x).shape == x.shape
    assert model.encode(x).shape == (2, 100)
    assert model.lin1[1].out_features == 1024
    assert all(isinstance(m.kernel_size, tuple) and m.kernel_size == (3, 3)
               for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)))
    out = model(x)
    assert out.min() >= 0 and out.max() <= 1          # sigmoid output


def test_wrong_input_size_is_a_clear_error():
    with pytest.raises(ValueError, match="multiple of 16"):
        schneider.CAE(input_size=40)
    with pytest.raises(ValueError, match="built for inputs"):
        schneider.CAE(input_size=32)(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match="unknown model"):
        schneider.build("GAN")


def test_aae_critic_weights_are_clipped():
    model = schneider.AAE(input_size=32, clip=0.01)
    model.fit(torch.rand(8, 1, 32, 32), iterations=2, batch_size=4, progress=False)
    assert all(p.abs().max() <= 0.01 + 1e-9 for p in model.critic.parameters())


def test_training_reduces_the_loss_and_is_seeded():
    images = torch.linspace(0.2, 0.8, 8).view(8, 1, 1, 1).expand(8, 1, 32, 32).clone()
    histories = []
    for _ in range(2):
        seed_everything(1)                      # initial weights come from the global seed
        model = schneider.CAE(input_size=32)
        histories.append(model.fit(images, iterations=40, batch_size=8, lr=1e-3, seed=1, progress=False))
    losses = histories[0].series()
    assert sum(losses[-5:]) < sum(losses[:5])
    assert histories[0].series() == histories[1].series()


def test_nan_loss_stops_with_advice():
    class Broken(schneider.CAE):
        def loss(self, x):
            value = super().loss(x)[0] * float("nan")
            return value, {"loss": value.item()}

    with pytest.raises(training.DivergedError, match="learning rate"):
        Broken(input_size=32).fit(torch.rand(4, 1, 32, 32), iterations=3, batch_size=2, progress=False)


class _Regression(torch.nn.Module):
    """A target-and-condition model: it learns y = w·x + c from (x, y, c) samples."""

    precision = "fp32"

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.seen = []

    def configure_optimizers(self, lr):
        return [torch.optim.SGD(self.parameters(), lr=lr)]

    def train_step(self, batch, optimizers):
        x, y, c = (batch["x"], batch["y"], batch["c"]) if isinstance(batch, dict) else batch
        self.seen.append(type(batch))
        assert torch.equal(y, 3 * x + c)          # the parts of one sample stay together
        (optimizer,) = optimizers
        optimizer.zero_grad()
        loss = ((self.w * x + c - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach()}


@pytest.mark.parametrize("form", ["tuple", "dict", "function"])
def test_fit_takes_batches_of_several_parts(form):
    x = torch.linspace(-1, 1, 50)
    c = torch.arange(50.0)
    parts = (x, 3 * x + c, c)

    def draw(generator, n):
        index = torch.randint(50, (n,), generator=generator)
        return tuple(part[index] for part in parts)

    data = {"tuple": parts, "dict": dict(zip("xyc", parts)), "function": draw}[form]
    model = _Regression()
    history = training.fit(model, data, iterations=200, batch_size=10, lr=0.1, progress=False)
    assert abs(model.w.item() - 3) < 1e-3 and history.series()[-1] < 1e-5
    assert set(model.seen) == {dict if form == "dict" else tuple}


def test_fit_refuses_parts_of_different_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        training.fit(_Regression(), (torch.zeros(5), torch.zeros(4), torch.zeros(5)), iterations=1, progress=False)


def test_callback_snapshots():
    seen = []
    schneider.CAE(input_size=32).fit(torch.rand(4, 1, 32, 32), iterations=6, batch_size=2, progress=False,
                                     callback=lambda step, m: seen.append(step), callback_every=3)
    assert seen == [0, 3, 6]


def test_patch_grid_round_trip():
    images = torch.rand(2, 1, 64, 64)
    patches = grid_patches(images, 32, 16)
    assert patches.shape == (2 * 9, 1, 32, 32)
    assert torch.allclose(assemble(patches[:, 0], (64, 64), 32, 16), images[:, 0])

    class Identity(schneider.CAE):
        def forward(self, x):
            return x
    model = Identity(input_size=32)
    assert torch.allclose(reconstruct_images(model, images, 32), images)
    assert image_anomaly_maps(model, images, 32, 16).abs().max() == 0
    with pytest.raises(ValueError, match="not covered"):
        grid_patches(images, 32, 20)


def test_random_crops_on_a_lattice():
    images = torch.arange(64 * 64, dtype=torch.float32).view(1, 1, 64, 64)
    crops = random_crops(images, 16, step=8)(torch.Generator().manual_seed(0), 20)
    origins = crops[:, 0, 0, 0].long()
    assert ((origins // 64) % 8 == 0).all() and ((origins % 64) % 8 == 0).all()
    with pytest.raises(ValueError, match="smaller than the patch"):
        random_crops(images, 128)


def test_training_until_converged_stops_on_a_plateau_after_cutting_the_learning_rate():
    x = torch.linspace(-1, 1, 50)
    c = torch.zeros(50)
    model = _Regression()
    rule = training.Convergence(every=10, patience=2, lr_cuts=1, warmup=5)
    history = training.fit(model, (x, 3 * x, c), iterations=5000, batch_size=10, lr=0.1, progress=False,
                           converge=rule)
    assert abs(model.w.item() - 3) < 1e-3
    assert history.stopped_at is not None and history.iterations == history.stopped_at < 5000
    assert len(history.lr_cut_at) == 1 and history.lr_cut_at[0] < history.stopped_at
    assert [step for step, _ in history.monitored] == list(range(10, history.stopped_at + 1, 10))
    # a monitor of the caller's choosing, read in eval mode without gradients
    seen = []
    monitor = training.Convergence(monitor=lambda m: seen.append(torch.is_grad_enabled()) or 1.0, every=10,
                                   patience=1, lr_cuts=0)
    assert training.fit(_Regression(), (x, 3 * x, c), iterations=100, batch_size=10, lr=0.1, progress=False,
                        converge=monitor).stopped_at == 20 and seen == [False, False]
    with pytest.raises(ValueError, match="factor"):
        training.Convergence(factor=2.0)


def test_a_detector_trains_until_converged_on_held_out_images():
    from adlib import detectors

    images = torch.rand(40, 1, 32, 32) * 0.2 + torch.linspace(0, 0.8, 32).view(1, 1, 1, 32)
    detector = detectors.get("fadaeinejad_cae", channels=1, image_size=32, seed=0, work_size=32, latent=8)
    detector.fit(images, iterations=100, batch_size=8, progress=False, until_converged=True)
    history = detector.history
    # read every 5 % of the cap (at least 25 steps) on the held-out tenth: its reconstruction error
    assert [step for step, _ in history.monitored] == [25, 50, 75] and history.iterations <= 100
    held_out = health.hold_out(images, health.HOLD_OUT_FRACTION, seed=0)[1]
    error = float(((detector._reconstruct_inputs(held_out) - held_out) ** 2).mean())
    assert 0 < history.monitored[-1][1] and abs(history.monitored[-1][1] - error) < 0.5 * error
    assert detector.train_size == (32, 32) and len(detector._convergence_rule(images, 100)[1]) == 40 - len(held_out)
