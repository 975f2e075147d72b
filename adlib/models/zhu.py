"""Zhu et al. (2021): a two-stage, non-symmetrical autoencoder with a RotNet encoder.

Stage 1 trains a ResNet-18 (torchvision's, adapted to 28–32 px inputs: 3×3 stem, no max
pooling) to predict which of the rotations 0/90/180/270° was applied to a normal image
(Gidaris et al.'s RotNet; SGD, lr 0.1 in the paper). Stage 2 freezes it and trains two
DCGAN-style decoders as in GANomaly on its pooled features, in parallel: one with the MSE,
one with −SSIM (``pytorch_msssim``). The anomaly score is ``MSE(x, x̂₁) − λ·SSIM(x, x̂₂)``.

Also here, because they share the encoder or decoder: the end-to-end CAE baseline (same
encoder architecture and decoder, trained from scratch with the MSE) and the RotNet score
alone (Hendrycks et al.: the summed probability of the true rotation, negated so that a
higher score means more anomalous). Deep SVDD is in :mod:`adlib.models.oneclass_baselines`.

Every model takes 32×32 inputs: :func:`to_input_size` zero-pads smaller images (centred, as
for 28-px MNIST) and resizes larger ones; :func:`from_input_size` brings maps and
reconstructions back. Every model trains through :func:`adlib.training.fit`, whose precision
(:mod:`adlib.precision`) decides whether forward passes run under bfloat16 autocast; losses,
SSIM and every score are computed in float32. The detectors built on them are in :mod:`adlib.detectors.zhu`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim import ssim
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from adlib import precision as precisions
from adlib import training
from adlib.data.oneclass import pad_to
from adlib.models.base import Autoencoder
from adlib.patches import resize

ROTATIONS = 4          # 0, 90, 180, 270 degrees
INPUT_SIZE = 32        # every model here takes 32×32 inputs (28-px images are zero-padded)


def _check_input(x: torch.Tensor, channels: int) -> None:
    if x.ndim != 4 or x.shape[1] != channels or x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        raise ValueError(f"expected images of shape (N, {channels}, {INPUT_SIZE}, {INPUT_SIZE}), got "
                         f"{tuple(x.shape)}; pad 28-px images (or resize larger ones) with "
                         f"adlib.models.zhu.to_input_size")


def _padded(height: int, width: int) -> bool:
    return height <= INPUT_SIZE and width <= INPUT_SIZE


def to_input_size(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → (N, C, 32, 32): images of at most 32 px are zero-padded, centred (28-px
    MNIST as in the paper); larger ones are resized (bilinear, antialiased)."""
    height, width = x.shape[-2:]
    return pad_to(x, INPUT_SIZE) if _padded(height, width) else resize(x, INPUT_SIZE)


def from_input_size(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The inverse of :func:`to_input_size` for maps (N, 32, 32) or images (N, C, 32, 32):
    the centre crop of a padded image, or a resize back to ``shape``."""
    height, width = shape
    if _padded(height, width):
        top, left = (INPUT_SIZE - height) // 2, (INPUT_SIZE - width) // 2
        return x[..., top:top + height, left:left + width]
    if x.ndim == 3:
        return resize(x[:, None], (height, width))[:, 0]
    return resize(x, (height, width))


class ResNet18Encoder(ResNet):
    """torchvision's ResNet-18 for small inputs, with an optional narrower width.

    ``width`` is the number of channels of the first stage (64 in the standard network; the
    stages then have width, 2·width, 4·width, 8·width channels). The stem is a 3×3
    convolution with ``stem_stride`` (1 as for CIFAR; 2 quarters the cost on a CPU) and no
    max pooling. ``features(x)`` is the global-average-pooled representation z (8·width
    values); ``forward(x)`` the 4 rotation logits.
    """

    def __init__(self, in_channels: int = 1, width: int = 64, stem_stride: int = 1,
                 num_classes: int = ROTATIONS):
        if width < 4 or width % 4:
            raise ValueError(f"encoder width={width} must be a multiple of 4 (64 is ResNet-18)")
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride={stem_stride} must be 1 or 2")
        self._width, self._first_layer = width, True
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, width, 3, stem_stride, 1, bias=False)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.Identity()
        self.fc = nn.Linear(8 * width, num_classes)
        self.feature_dim = 8 * width

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if self._first_layer:                  # torchvision starts at 64 channels
            self.inplanes, self._first_layer = self._width, False
        return super()._make_layer(block, planes * self._width // 64, blocks, stride, dilate)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels)
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All four rotations of a batch, stacked (4N, C, H, W), and their labels 0..3."""
    rotated = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(ROTATIONS)])
    labels = torch.arange(ROTATIONS, device=x.device).repeat_interleave(len(x))
    return rotated, labels


class RotNet(nn.Module):
    """Stage 1: the encoder trained on rotation prediction (cross-entropy over 4 rotations)."""

    def __init__(self, in_channels: int = 1, width: int = 64, stem_stride: int = 1,
                 momentum: float = 0.9, weight_decay: float = 5e-4, cosine_steps: int | None = None):
        super().__init__()
        self.encoder = ResNet18Encoder(in_channels, width, stem_stride)
        self.momentum, self.weight_decay = momentum, weight_decay
        self.precision = "fp32"                 # set by training.fit while it trains
        self.cosine_steps = cosine_steps        # anneal the learning rate to 0 over this many steps
        self._scheduler = None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def configure_optimizers(self, lr: float) -> list[torch.optim.Optimizer]:
        optimizer = torch.optim.SGD(self.parameters(), lr=lr, momentum=self.momentum,
                                    weight_decay=self.weight_decay, nesterov=True)
        self._scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.cosine_steps)
                           if self.cosine_steps else None)
        return [optimizer]

    def train_step(self, x: torch.Tensor, optimizers) -> dict[str, torch.Tensor]:
        (optimizer,) = optimizers
        rotated, labels = rotations(x)
        optimizer.zero_grad(set_to_none=True)
        with precisions.autocast(x.device, self.precision):
            logits = self(rotated).float()
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        if self._scheduler is not None:
            self._scheduler.step()
        accuracy = (logits.detach().argmax(1) == labels).float().mean()
        return {"loss": loss.detach(), "accuracy": accuracy}

    def fit(self, data, **kwargs) -> training.History:
        return training.fit(self, data, **kwargs)

    @torch.no_grad()
    def rotation_probabilities(self, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """(N, 4): probability of the true rotation for each of the four rotations of x."""
        self.eval()
        out = []
        for chunk in torch.split(x, batch_size):
            chunk = chunk.to(self.device)
            rotated, labels = rotations(chunk)
            probs = self(rotated).softmax(1)
            out.append(probs[torch.arange(len(labels)), labels].view(ROTATIONS, -1).T.cpu())
        return torch.cat(out)

    @torch.no_grad()
    def rotation_accuracy(self, x: torch.Tensor, batch_size: int = 512) -> float:
        """Share of the four rotations of x whose rotation the network names correctly."""
        self.eval()
        correct = 0
        for chunk in torch.split(x, batch_size):
            chunk = chunk.to(self.device)
            rotated, labels = rotations(chunk)
            correct += int((self(rotated).argmax(1) == labels).sum())
        return correct / (ROTATIONS * len(x))

    def score(self, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """(N,) anomaly score: minus the summed probability of the true rotation."""
        return -self.rotation_probabilities(x, batch_size).sum(1)


class DCGANDecoder(nn.Sequential):
    """GANomaly's generator-decoder (a DCGAN generator) from a z of ``nz`` values to 32×32.

    ConvTranspose(nz → 4·ngf, 4×4) then two ×2 up-sampling blocks (BN + ReLU) and a last
    ×2 transposed convolution to ``out_channels``. GANomaly ends in tanh for images in
    [−1, 1]; our images are in [0, 1], so this one ends in a sigmoid.
    """

    def __init__(self, nz: int, out_channels: int = 1, ngf: int = 64, size: int = INPUT_SIZE):
        if size != INPUT_SIZE:
            raise ValueError(f"the decoder produces {INPUT_SIZE}×{INPUT_SIZE} images, not {size}")
        layers: list[nn.Module] = [nn.Unflatten(1, (nz, 1, 1)),
                                   nn.ConvTranspose2d(nz, 4 * ngf, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(4 * ngf), nn.ReLU(True)]
        channels = 4 * ngf
        while channels > ngf:
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(channels // 2), nn.ReLU(True)]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, out_channels, 4, 2, 1, bias=False), nn.Sigmoid()]
        super().__init__(*layers)


def ssim_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N,) SSIM of each pair (pytorch_msssim, 11-px Gaussian window, data range 1)."""
    return ssim(x.float(), y.float(), data_range=1.0, size_average=False)


class TwoStage(Autoencoder):
    """Stage 2: a frozen (RotNet) encoder and two parallel decoders, MSE and −SSIM.

    ``forward`` returns x̂₁ (the MSE decoder's reconstruction); ``reconstruct_both`` both.
    """

    def __init__(self, encoder: ResNet18Encoder, ngf: int = 64, lam: float = 1.0,
                 betas: tuple[float, float] = (0.5, 0.999)):
        super().__init__()
        self.encoder = encoder
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        channels = encoder.in_channels
        self.decoder_mse = DCGANDecoder(encoder.feature_dim, channels, ngf)
        self.decoder_ssim = DCGANDecoder(encoder.feature_dim, channels, ngf)
        self.lam, self.betas = lam, betas

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()                    # frozen, batch-norm statistics included
        return self

    def _z(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():                  # float32: computed once, shared by training and scoring
            return self.encoder.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder_mse(self._z(x))

    def configure_optimizers(self, lr: float) -> list[torch.optim.Optimizer]:
        return [torch.optim.Adam(list(self.decoder_mse.parameters()) + list(self.decoder_ssim.parameters()),
                                 lr=lr, betas=self.betas)]

    def fit(self, data: torch.Tensor, *, device: torch.device | str = "cpu", **kwargs) -> training.History:
        """Train both decoders. The encoder is frozen, so the features z of every training
        image are computed once; the loop draws (image, z) pairs."""
        if not isinstance(data, torch.Tensor) or len(data) == 0:
            raise ValueError("TwoStage.fit needs a non-empty tensor of training images")
        self.to(device)
        x = data.to(device)
        z = torch.cat([self._z(chunk) for chunk in torch.split(x, 1024)])
        return training.fit(self, (x, z), device=device, **kwargs)

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor], optimizers) -> dict[str, torch.Tensor]:
        """One step of both decoders on images x and their frozen stage-1 features z."""
        (optimizer,) = optimizers
        x, z = batch
        optimizer.zero_grad(set_to_none=True)
        with precisions.autocast(x.device, self.precision):
            x1, x2 = self.decoder_mse(z), self.decoder_ssim(z)
        mse = F.mse_loss(x1.float(), x)
        structural = ssim_per_image(x2, x).mean()
        # the decoders share no parameter: one step on the sum is two independent steps
        (mse - structural).backward()
        optimizer.step()
        return {"loss": (mse - structural).detach(), "mse": mse.detach(), "ssim": structural.detach()}

    @torch.no_grad()
    def reconstruct_both(self, x: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
        self.eval()
        first, second = [], []
        for chunk in torch.split(x, batch_size):
            z = self._z(chunk.to(self.device))
            first.append(self.decoder_mse(z).float().cpu())
            second.append(self.decoder_ssim(z).float().cpu())
        return torch.cat(first), torch.cat(second)

    @torch.no_grad()
    def score_terms(self, x: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
        """(MSE(x, x̂₁), SSIM(x, x̂₂)) per image."""
        x1, x2 = self.reconstruct_both(x, batch_size)
        x = x.float().cpu()
        return ((x - x1) ** 2).flatten(1).mean(1), ssim_per_image(x2, x)

    def score(self, x: torch.Tensor, batch_size: int = 512, lam: float | None = None) -> torch.Tensor:
        """Zhu et al. eq. 10: AS(x) = MSE(x, x̂₁) − λ·SSIM(x, x̂₂)."""
        mse, structural = self.score_terms(x, batch_size)
        return mse - (self.lam if lam is None else lam) * structural


class CAE(Autoencoder):
    """The end-to-end baseline: the same encoder architecture and decoder, trained together
    from scratch with the MSE (no rotation pre-training). Score: mean squared error."""

    def __init__(self, in_channels: int = 1, width: int = 64, stem_stride: int = 1, ngf: int = 64,
                 betas: tuple[float, float] = (0.5, 0.999)):
        super().__init__()
        self.encoder = ResNet18Encoder(in_channels, width, stem_stride)
        self.encoder.fc = nn.Identity()        # unused
        self.decoder = DCGANDecoder(self.encoder.feature_dim, in_channels, ngf)
        self.betas = betas

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder.features(x))

    def configure_optimizers(self, lr: float) -> list[torch.optim.Optimizer]:
        return [torch.optim.Adam(self.parameters(), lr=lr, betas=self.betas)]

    @torch.no_grad()
    def score(self, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """(N,) mean squared reconstruction error per image (computed where the model is)."""
        self.eval()
        out = []
        for chunk in torch.split(x, batch_size):
            chunk = chunk.to(self.device)
            out.append(((chunk - self(chunk)) ** 2).flatten(1).mean(1).cpu())
        return torch.cat(out)
