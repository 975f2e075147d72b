"""CAE, VAE and AAE of Schneider et al. (VISAPP 2022), built from their appendix.

Tables 2-4 of the paper: 3×3 kernels, LeakyReLU everywhere but the sigmoid output, an
encoder that reduces the resolution 16×, a linear bottleneck ``flat → r → n_z → r → flat``
(r = 1024, n_z = 100), identical decoders; the VAE has two heads (μ, log σ²) and the
reparametrisation; the AAE adds a Wasserstein critic ``n_z → 10 → 1`` on the latent code,
its weights clipped to a box after every update (Arjovsky et al. 2017), trained in a
reconstruction phase and a regularisation phase (Makhzani et al. 2016).

Two encoder variants as in Table 2: ``"synthetic"`` (strides 1, 2, 2, 4, 1; d = 16) and
``"industrial"`` (strides 1, 2, 2, 2, 2, 1). The input size is fixed when the model is built
because of the linear bottleneck; it must be a multiple of 16.
"""

from __future__ import annotations

import torch
from torch import nn

from adlib import precision as precisions
from adlib.models.base import Autoencoder

LEAK = 0.01  # torch's default negative slope; the paper does not give one

# (out_channels, stride) per layer; input channels chain from the previous layer.
ENCODER_PLANS = {
    "synthetic": [(16, 1), (32, 2), (64, 2), (64, 4), (16, 1)],
    "industrial": [(16, 1), (32, 2), (64, 2), (64, 2), (64, 2), (16, 1)],
}


def _encoder(in_channels: int, variant: str) -> nn.Sequential:
    layers, channels = [], in_channels
    for out, stride in ENCODER_PLANS[variant]:
        layers += [nn.Conv2d(channels, out, 3, stride=stride, padding=1), nn.LeakyReLU(LEAK)]
        channels = out
    return nn.Sequential(*layers)


def _decoder(out_channels: int, variant: str) -> nn.Sequential:
    # The mirror of the encoder: channels reversed, each stride undone by a transposed conv.
    plan = ENCODER_PLANS[variant]
    ins = [c for c, _ in reversed(plan)]                       # 16, 64, 64, 32, 16 (synthetic)
    outs = ins[1:] + [out_channels]
    strides = [1] + [s for _, s in reversed(plan)][:-1]        # undo strides in reverse order
    layers: list[nn.Module] = []
    for i, (cin, cout, stride) in enumerate(zip(ins, outs, strides)):
        layers.append(nn.ConvTranspose2d(cin, cout, 3, stride=stride, padding=1,
                                         output_padding=stride - 1))
        layers.append(nn.Sigmoid() if i == len(ins) - 1 else nn.LeakyReLU(LEAK))
    return nn.Sequential(*layers)


class CAE(Autoencoder):
    """The "standard" convolutional autoencoder, trained with the MSE (paper eq. 3)."""

    def __init__(self, input_size: int = 64, in_channels: int = 1, variant: str = "synthetic",
                 r: int = 1024, n_z: int = 100):
        super().__init__()
        if variant not in ENCODER_PLANS:
            raise ValueError(f"variant={variant!r} is not one of {sorted(ENCODER_PLANS)}")
        if input_size % 16 or input_size < 16:
            raise ValueError(f"input_size={input_size} must be a positive multiple of 16")
        self.input_size, self.in_channels, self.n_z = input_size, in_channels, n_z
        self.code_shape = (16, input_size // 16, input_size // 16)
        flat = 16 * (input_size // 16) ** 2
        self.encoder = _encoder(in_channels, variant)
        self.lin1 = nn.Sequential(nn.Flatten(), nn.Linear(flat, r), nn.LeakyReLU(LEAK))
        self.lin2 = nn.Linear(r, n_z)
        self.lin3 = nn.Sequential(nn.Linear(n_z, r), nn.LeakyReLU(LEAK))
        self.lin4 = nn.Sequential(nn.Linear(r, flat), nn.LeakyReLU(LEAK))
        self.decoder = _decoder(in_channels, variant)

    def _check(self, x: torch.Tensor) -> None:
        if x.shape[1:] != (self.in_channels, self.input_size, self.input_size):
            raise ValueError(f"{type(self).__name__} was built for inputs of shape "
                             f"{(self.in_channels, self.input_size, self.input_size)}, "
                             f"got {tuple(x.shape[1:])}")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.lin2(self.lin1(self.encoder(x)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.lin4(self.lin3(z)).view(-1, *self.code_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class VAE(CAE):
    """Variational autoencoder: μ and log σ² heads (lin21, lin22) and z = μ + σ·ε.

    Loss per image: sum of squared errors + ``kl_weight`` · KL(q(z|x) || N(0, I)) (paper eq.
    4-5, the Gaussian likelihood written as the SSE). At evaluation the decoder gets μ, so
    anomaly maps are deterministic.
    """

    def __init__(self, *args, kl_weight: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.kl_weight = kl_weight
        r = self.lin2.in_features
        self.lin2 = nn.Linear(r, self.n_z)       # lin21: μ
        self.lin22 = nn.Linear(r, self.n_z)      # lin22: log σ²

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x)
        hidden = self.lin1(self.encoder(x))
        return self.lin2(hidden), self.lin22(hidden)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mu, logvar = (t.float() for t in self.posterior(x))      # the KL in float32
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = self.decode(z).float()
        sse = ((recon - x) ** 2).flatten(1).sum(dim=1).mean()
        kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(dim=1)).mean()
        loss = sse + self.kl_weight * kl
        return loss, {"loss": loss.detach(), "mse": sse.detach() / x[0].numel(), "kl": kl.detach()}


class AAE(CAE):
    """Adversarial autoencoder with a Wasserstein critic on the latent code (Table 4).

    One training step = a reconstruction phase (encoder + decoder on the MSE), then a
    regularisation phase: ``n_critic`` critic updates separating prior samples z ~ N(0, I)
    from codes E(x), weights clipped to ±``clip`` after each, then one encoder update that
    makes E(x) look like the prior to the critic. The critic and that encoder update use the
    learning rate ``adversarial_lr`` (None: the autoencoder's).
    """

    def __init__(self, *args, n_critic: int = 5, clip: float = 0.01, adversarial_weight: float = 1.0,
                 adversarial_lr: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.n_critic, self.clip, self.adversarial_weight = n_critic, clip, adversarial_weight
        self.adversarial_lr = adversarial_lr
        self.critic = nn.Sequential(nn.Linear(self.n_z, 10), nn.LeakyReLU(LEAK), nn.Linear(10, 1))

    def _autoencoder_parameters(self):
        return [p for name, p in self.named_parameters() if not name.startswith("critic.")]

    def configure_optimizers(self, lr: float) -> list[torch.optim.Optimizer]:
        encoder = [*self.encoder.parameters(), *self.lin1.parameters(), *self.lin2.parameters()]
        adversarial = lr if self.adversarial_lr is None else self.adversarial_lr
        return [torch.optim.Adam(self._autoencoder_parameters(), lr=lr),
                torch.optim.Adam(self.critic.parameters(), lr=adversarial),
                torch.optim.Adam(encoder, lr=adversarial)]

    def train_step(self, x: torch.Tensor, optimizers) -> dict[str, torch.Tensor]:
        ae_opt, critic_opt, encoder_opt = optimizers
        # reconstruction phase
        ae_opt.zero_grad(set_to_none=True)
        with precisions.autocast(x.device, self.precision):
            mse = torch.mean((self(x).float() - x) ** 2)
        mse.backward()
        ae_opt.step()
        # regularisation phase: the critic estimates the Wasserstein distance ...
        with torch.no_grad(), precisions.autocast(x.device, self.precision):
            fake = self.encode(x).float()
        for _ in range(self.n_critic):
            real = torch.randn_like(fake)
            critic_opt.zero_grad(set_to_none=True)
            critic_loss = self.critic(fake).mean() - self.critic(real).mean()
            critic_loss.backward()
            critic_opt.step()
            with torch.no_grad():
                for p in self.critic.parameters():
                    p.clamp_(-self.clip, self.clip)
        # ... and the encoder (the generator) is updated to fool it
        encoder_opt.zero_grad(set_to_none=True)
        with precisions.autocast(x.device, self.precision):
            code = self.encode(x).float()
        generator_loss = -self.adversarial_weight * self.critic(code).mean()
        generator_loss.backward()
        encoder_opt.step()
        # the critic and its updates are tiny (a few linear layers on the code): float32
        return {"loss": mse.detach(), "critic": -critic_loss.detach(), "generator": generator_loss.detach()}


MODELS = {"CAE": CAE, "VAE": VAE, "AAE": AAE}


def build(kind: str, **kwargs) -> CAE:
    """One of ``MODELS`` by name, e.g. ``build("VAE", input_size=64)``."""
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; choose one of {sorted(MODELS)}")
    return MODELS[kind](**kwargs)
