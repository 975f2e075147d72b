"""Fadaeinejad (2023): a convolutional autoencoder with per-pixel thresholding.

The encoder is their Table 1 (ten convolutions, BatchNorm with momentum 0.1 and ε = 1e-6,
LeakyReLU with slope 0.01, a 500-dimensional 1×1 latent code); the decoder mirrors it.

**The decoder of their Table 2 is not self-consistent.** Its seventh row takes 64 channels
although the row before outputs 32, and its stride-2 rows would upsample the 8×8 map seven
times (to 1024 pixels for a 256-pixel input). Rows 1–6 and 10–13 of Table 2 are exactly the
encoder read backwards; rows 7–9 (64→128 k4 s2, 128→64 k3 s1, 64→32 k4 s2) repeat a block
and break both the channel chain and the output size. The smallest change that makes the
table work is to drop those three rows, which leaves the exact mirror of the encoder
(:data:`DECODER_ROWS_DROPPED`).

Their Algorithm 1 turns a reconstruction into a defect mask: the residual |x − x̂| is
reduced to one channel by its maximum over the colour channels and thresholded by τ
(:meth:`CAE.residual_map`, :func:`detect`).

The paper's images are 256×256 (the 8×8 kernel of the last encoder layer then sees an 8×8
map). Other input sizes, a multiple of 32, scale that kernel to ``input_size / 32`` so the
latent code stays 1×1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from adlib.models.base import Autoencoder

BN_MOMENTUM = 0.1
BN_EPS = 1e-6
LEAKY_SLOPE = 0.01
PAPER_INPUT_SIZE = 256
PAPER_LATENT = 500
PAPER_TAU = 0.2
PAPER_TAU_BY_DEFECT = {"hole": 0.25}

# Table 1 of the paper: (in, out, kernel, stride); "C" is the image's channel count, "L"
# the latent size and "K" the last kernel (8 for their 256-pixel inputs).
ENCODER_ROWS = [("C", "C", 4, 2), ("C", 32, 4, 2), (32, 32, 4, 2), (32, 32, 3, 1),
                (32, 64, 4, 2), (64, 64, 3, 1), (64, 128, 4, 2), (128, 64, 3, 1),
                (64, 32, 3, 1), (32, "L", "K", 1)]
# Table 2 as printed (13 transposed convolutions).
DECODER_ROWS_AS_PRINTED = [("L", 32, "K", 1), (32, 64, 3, 1), (64, 128, 3, 1), (128, 64, 4, 2),
                           (64, 64, 3, 1), (64, 32, 4, 2), (64, 128, 4, 2), (128, 64, 3, 1),
                           (64, 32, 4, 2), (32, 32, 3, 1), (32, 32, 4, 2), (32, "C", 4, 2),
                           ("C", "C", 4, 2)]
DECODER_ROWS_DROPPED = (7, 8, 9)    # 1-based rows of Table 2 removed (see module docstring)
DECODER_ROWS = [row for i, row in enumerate(DECODER_ROWS_AS_PRINTED, 1)
                if i not in DECODER_ROWS_DROPPED]


def _resolve(value, channels: int, latent: int, kernel: int) -> int:
    return {"C": channels, "L": latent, "K": kernel}.get(value, value)


def _padding(row) -> int:
    # k4 s2 p1 halves (doubles) the size exactly; k3 s1 p1 keeps it; the K×K latent layer has none
    return 0 if row[2] == "K" else 1


class CAE(Autoencoder):
    """Their CAE: ``input_size`` a multiple of 32 (paper: 256), RGB by default, latent 500."""

    def __init__(self, input_size: int = PAPER_INPUT_SIZE, in_channels: int = 3,
                 latent: int = PAPER_LATENT):
        super().__init__()
        if input_size < 32 or input_size % 32:
            raise ValueError(f"input_size={input_size}: the CAE halves the image five times, so "
                             f"the side must be a multiple of 32 (the paper uses 256)")
        if latent < 1:
            raise ValueError(f"latent={latent} must be at least 1")
        self.input_size, self.in_channels, self.latent = input_size, in_channels, latent
        kernel = input_size // 32
        enc: list[nn.Module] = []
        for i, row in enumerate(ENCODER_ROWS):
            c_in, c_out, k, s = (_resolve(v, in_channels, latent, kernel) for v in row)
            enc += [nn.Conv2d(c_in, c_out, k, s, _padding(row)),
                    nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)]
            if i < len(ENCODER_ROWS) - 1:            # the latent layer ends with BatchNorm (Table 1)
                enc.append(nn.LeakyReLU(LEAKY_SLOPE))
        dec: list[nn.Module] = []
        for i, row in enumerate(DECODER_ROWS):
            c_in, c_out, k, s = (_resolve(v, in_channels, latent, kernel) for v in row)
            dec.append(nn.ConvTranspose2d(c_in, c_out, k, s, _padding(row)))
            if i < len(DECODER_ROWS) - 1:
                dec += [nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM), nn.LeakyReLU(LEAKY_SLOPE)]
            else:
                dec.append(nn.Sigmoid())
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[2:] != (self.input_size,) * 2:
            raise ValueError(f"CAE built for inputs (N, {self.in_channels}, {self.input_size}, "
                             f"{self.input_size}), got {tuple(x.shape)}")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.encoder(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.decoder(self.encoder(x))

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # their eq. 5 (L2 loss), as the mean squared error per pixel and channel
        loss = torch.mean((self(x).float() - x) ** 2)
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def residual_map(self, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """Algorithm 1: (N, H, W) max over channels of |x − x̂|, in [0, 1]."""
        return (x - self.reconstruct(x, batch_size)).abs().amax(dim=1)

    @torch.no_grad()
    def anomaly_map(self, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """The paper's map is Algorithm 1's channel-max absolute residual."""
        return self.residual_map(x, batch_size)


def detect(residual, tau: float) -> np.ndarray:
    """Algorithm 1's last step: pixels whose residual exceeds τ are defective."""
    return np.asarray(residual) > tau


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- augmentation

def augment(images: np.ndarray | torch.Tensor, total: int, seed: int = 0, noise_std: float = 0.02,
            max_angle: float = 180.0) -> torch.Tensor:
    """The paper's augmentation: rotations, flips and added noise, to ``total`` images.

    The originals are kept; each further image is a random original rotated by a uniform
    angle in ±``max_angle`` degrees (bilinear, corners filled with the image's border colour
    estimate, its darkest decile), flipped horizontally and/or vertically with probability
    1/2 each, plus Gaussian noise of standard deviation ``noise_std``, clipped to [0, 1].
    (The paper names the three operations and the result, 390 → about 2,000 images, but
    not their ranges.)
    """
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if x.dim() != 4 or len(x) == 0:
        raise ValueError(f"augment expects a non-empty (N, C, H, W) batch, got {tuple(x.shape)}")
    if total < len(x):
        raise ValueError(f"total={total} is below the {len(x)} original images")
    gen = torch.Generator().manual_seed(seed)
    out = [x]
    for _ in range(total - len(x)):
        k = int(torch.randint(len(x), (1,), generator=gen))
        image = x[k]
        fill = [float(v) for v in image.flatten(1).quantile(0.1, dim=1)]
        angle = float((torch.rand(1, generator=gen) * 2 - 1) * max_angle)
        image = TF.rotate(image, angle, interpolation=TF.InterpolationMode.BILINEAR, fill=fill)
        if torch.rand(1, generator=gen) < 0.5:
            image = TF.horizontal_flip(image)
        if torch.rand(1, generator=gen) < 0.5:
            image = TF.vertical_flip(image)
        image = image + noise_std * torch.randn(image.shape, generator=gen)
        out.append(image.clamp(0, 1)[None])
    return torch.cat(out)


# --------------------------------------------------------------------------- pixel metrics

@dataclass
class PixelScores:
    tau: float
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int


def pixel_counts(residual, masks, taus) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = np.asarray(residual, dtype=np.float64).ravel()
    truth = np.asarray(masks, bool).ravel()
    if scores.shape != truth.shape:
        raise ValueError(f"{scores.size} residual pixels but {truth.size} mask pixels")
    taus = np.atleast_1d(np.asarray(taus, dtype=np.float64))
    # counts of scores > τ among positives and negatives from sorted scores (exact, fast)
    pos, neg = np.sort(scores[truth]), np.sort(scores[~truth])
    tp = pos.size - np.searchsorted(pos, taus, side="right")
    fp = neg.size - np.searchsorted(neg, taus, side="right")
    fn = pos.size - tp
    return tp, fp, fn


def precision_recall_f1(tp, fp, fn):
    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=(2 * tp + fp + fn) > 0)
    return precision, recall, f1


def pixel_scores(residual, masks, tau: float) -> PixelScores:
    """Precision, recall and F1 (eqs. 1, 2, 4) of ``residual > τ`` pooled over all pixels."""
    tp, fp, fn = pixel_counts(residual, masks, [tau])
    p, r, f = precision_recall_f1(tp, fp, fn)
    return PixelScores(float(tau), float(p[0]), float(r[0]), float(f[0]), int(tp[0]), int(fp[0]), int(fn[0]))


def f1_curve(residual, masks, taus) -> np.ndarray:
    """Pooled pixel F1 at every τ in ``taus`` (their Figs 13–14 as a curve)."""
    return precision_recall_f1(*pixel_counts(residual, masks, taus))[2]


def per_image_f1(residual, masks, tau: float) -> np.ndarray:
    """F1 of each image separately (their Figs 5–8)."""
    return np.array([pixel_scores(r, m, tau).f1 for r, m in zip(residual, masks)])


def best_tau(residual, masks, taus) -> float:
    """The τ of ``taus`` with the highest pooled F1 (first one on ties)."""
    curve = f1_curve(residual, masks, taus)
    return float(np.asarray(taus)[int(np.argmax(curve))])


def paper_tau(defect: str) -> float:
    """The paper's threshold: 0.2, and 0.25 for hole."""
    return PAPER_TAU_BY_DEFECT.get(defect, PAPER_TAU)


def harmonic_f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else math.nan
