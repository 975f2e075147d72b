"""The VAE of Soukup & Pinetz (2018) and the analysis of its two losses.

Section III of the paper: 64×64 patches; an hourglass ("U-shaped") VGG-style CNN with 3×3
kernels; every encoder convolution has stride 2, halving the resolution and doubling the
number of feature maps; the decoder mirrors it with transposed convolutions; ReLU after
every layer except the last transposed convolution, which has a tanh; a μ / log σ² latent
(Kingma & Welling); loss ``L = L_rec + λ·L_lat`` with ``L_rec = Σ‖x − f(x)‖²`` (eq. 1) and
``L_lat = KL(Q(z|x) ‖ N(0, I))`` (eq. 2).

Unstated in the paper and chosen here: the depth (4 stride-2 layers: 64 → 4 pixels), the
first layer's width (``base_channels``), a dense μ / log σ² bottleneck of ``latent_dim``
units, and the input scaling: images in [0, 1] are mapped to [-1, 1], the range of the tanh,
and ``L_rec`` is the sum of squared errors in that range, per patch (averaged over the
minibatch, as is the KL term, so their ratio is the paper's λ).

The analysis helpers used by the chapter also live here: per-patch scores, the
cross-entropy between loss histograms (their eq. 3 and Table I), Gaussian fits, bootstrap
intervals for AUROC / AP, and the encoder-only vs full-model timing.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import nn

from adlib import metrics
from adlib.models.base import Autoencoder


class SoukupVAE(Autoencoder):
    """VGG-style convolutional VAE; ``forward`` returns the reconstruction in [0, 1]."""

    def __init__(self, input_size: int = 64, in_channels: int = 1, base_channels: int = 16,
                 depth: int = 4, latent_dim: int = 64, kl_weight: float = 1e-5):
        super().__init__()
        if depth < 1 or input_size % (2 ** depth) or input_size // (2 ** depth) < 1:
            raise ValueError(f"input_size={input_size} must be a positive multiple of 2**depth="
                             f"{2 ** depth}")
        if kl_weight < 0:
            raise ValueError(f"kl_weight (λ) must be >= 0, got {kl_weight}")
        self.input_size, self.in_channels, self.latent_dim = input_size, in_channels, latent_dim
        self.kl_weight = kl_weight
        channels = [in_channels] + [base_channels * 2 ** k for k in range(depth)]
        side = input_size // 2 ** depth
        self.code_shape = (channels[-1], side, side)
        flat = channels[-1] * side * side
        layers: list[nn.Module] = []
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU()]
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        self.mu = nn.Linear(flat, latent_dim)
        self.logvar = nn.Linear(flat, latent_dim)
        self.expand = nn.Sequential(nn.Linear(latent_dim, flat), nn.ReLU())
        layers = []
        back = channels[::-1]
        for k, (cin, cout) in enumerate(zip(back[:-1], back[1:])):
            layers.append(nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1))
            layers.append(nn.Tanh() if k == depth - 1 else nn.ReLU())
        self.decoder = nn.Sequential(*layers)

    # -- the two halves ---------------------------------------------------------------
    def _check(self, x: torch.Tensor) -> None:
        if x.shape[1:] != (self.in_channels, self.input_size, self.input_size):
            raise ValueError(f"SoukupVAE was built for inputs of shape "
                             f"{(self.in_channels, self.input_size, self.input_size)}, got "
                             f"{tuple(x.shape[1:])}")

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ and log σ² of Q(z|x) for images x in [0, 1] (the encoder c)."""
        self._check(x)
        hidden = self.encoder(2 * x - 1)
        return self.mu(hidden), self.logvar(hidden)

    def decode_signed(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder d: reconstruction in [-1, 1] (tanh range)."""
        return self.decoder(self.expand(z).view(-1, *self.code_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, _ = self.posterior(x)
        return (self.decode_signed(mu) + 1) / 2

    # -- losses -----------------------------------------------------------------------
    @staticmethod
    def kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(N(μ, σ²) ‖ N(0, I)) per sample (the latent loss L_lat)."""
        return -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(dim=1)

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mu, logvar = (t.float() for t in self.posterior(x))      # the KL in float32
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = self.decode_signed(z).float()
        rec = ((recon - (2 * x - 1)) ** 2).flatten(1).sum(dim=1).mean()
        lat = self.kl(mu, logvar).mean()
        loss = rec + self.kl_weight * lat
        return loss, {"loss": loss.detach(), "rec": rec.detach(), "kl": lat.detach()}

    # -- scores -----------------------------------------------------------------------
    @torch.no_grad()
    def latent_loss(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N,) per-patch latent loss KL(Q(z|x) ‖ N(0, I)): the encoder only."""
        self.eval()
        out = [self.kl(*self.posterior(chunk.to(self.device))).cpu() for chunk in torch.split(x, batch_size)]
        return torch.cat(out) if out else torch.zeros(0)

    @torch.no_grad()
    def reconstruction_loss(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N,) per-patch reconstruction loss Σ (x − f(x))² in the [-1, 1] scale (decoding μ)."""
        self.eval()
        out = []
        for chunk in torch.split(x, batch_size):
            chunk = chunk.to(self.device)
            mu, _ = self.posterior(chunk)
            out.append(((self.decode_signed(mu) - (2 * chunk - 1)) ** 2).flatten(1).sum(dim=1).cpu())
        return torch.cat(out) if out else torch.zeros(0)

    def losses(self, x: torch.Tensor | np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
        """Both per-patch scores: {"reconstruction": ..., "latent": ...} as NumPy arrays."""
        x = torch.as_tensor(x)
        return {"reconstruction": self.reconstruction_loss(x, batch_size).double().numpy(),
                "latent": self.latent_loss(x, batch_size).double().numpy()}


def build(**kwargs) -> SoukupVAE:
    return SoukupVAE(**kwargs)


def parameter_counts(model: SoukupVAE) -> dict[str, int]:
    """Parameters of the encoder (c, μ, log σ²) and of the whole VAE."""
    encoder = sum(p.numel() for part in (model.encoder, model.mu, model.logvar) for p in part.parameters())
    return {"encoder": int(encoder), "all": int(sum(p.numel() for p in model.parameters()))}


# ------------------------------------------------------------------------------ analysis

def shared_edges(samples: list[np.ndarray], bins: int) -> np.ndarray:
    """``bins`` equal-width bin edges over the pooled range of all ``samples``."""
    pooled = np.concatenate([np.asarray(s, float).ravel() for s in samples])
    if pooled.size == 0:
        raise ValueError("no samples to bin")
    return np.histogram_bin_edges(pooled, bins=bins)


def histogram_distribution(samples: np.ndarray, edges: np.ndarray, epsilon: float) -> np.ndarray:
    """Bin probabilities of ``samples`` on ``edges``; empty bins get ``epsilon``, then renormalised."""
    counts, _ = np.histogram(samples, bins=edges)
    if counts.sum() == 0:
        raise ValueError("no sample falls inside the bin edges")
    p = counts / counts.sum()
    p = np.where(p > 0, p, epsilon)
    return p / p.sum()


def cross_entropy(p_samples: np.ndarray, q_samples: np.ndarray, edges: np.ndarray,
                  epsilon: float = 1e-6) -> float:
    """H(p, q) = −Σ p_i log₂ q_i (their eq. 3) between two histograms on shared ``edges``.

    Both histograms use the same edges; empty bins are smoothed with ``epsilon`` (for q this
    keeps H finite; a bin where p has mass and q none costs −log₂ ε ≈ 19.9 bits for ε = 1e-6).
    """
    p = histogram_distribution(p_samples, edges, epsilon)
    q = histogram_distribution(q_samples, edges, epsilon)
    return float(-(p * np.log2(q)).sum())


def cross_entropy_table(sets: dict[str, np.ndarray], bins: int = 50, epsilon: float = 1e-6) -> dict[str, float]:
    """H(T,V), H(T,D), H(V,D) for one loss, all on the same edges over T ∪ V ∪ D.

    Also the entropies H(T) = H(T,T) and H(V) = H(V,V) on the same edges, the floor of any
    cross-entropy from T or V (H(p, q) − H(p) is the Kullback-Leibler divergence in bits).
    """
    edges = shared_edges([sets["T"], sets["V"], sets["D"]], bins)
    table = {f"H_{a}{b}": cross_entropy(sets[a], sets[b], edges, epsilon)
             for a, b in (("T", "V"), ("T", "D"), ("V", "D"))}
    table.update({f"H_{a}": cross_entropy(sets[a], sets[a], edges, epsilon) for a in ("T", "V")})
    return table


def gaussian_fit(samples: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood normal fit (μ, σ) of a sample (scipy.stats.norm.fit)."""
    mu, sigma = stats.norm.fit(np.asarray(samples, float))
    return float(mu), float(sigma)


@dataclass
class Reliability:
    auroc: float
    ap: float
    auroc_ci: tuple[float, float]
    ap_ci: tuple[float, float]
    f1_max: float = float("nan")     # best F1 over thresholds (no interval)


def bootstrap_auroc_ap(normal: np.ndarray, anomalous: np.ndarray, n_boot: int = 200,
                       level: float = 0.95, seed: int = 0) -> Reliability:
    """AUROC and AP (anomalous positive) with percentile bootstrap intervals.

    Each replicate resamples the normal and the anomalous scores with replacement,
    separately (the class sizes stay fixed).
    """
    normal, anomalous = np.asarray(normal, float), np.asarray(anomalous, float)
    auroc, ap = metrics.image_auroc_ap(normal, anomalous)
    rng = np.random.default_rng(seed)
    values = np.array([metrics.image_auroc_ap(rng.choice(normal, normal.size),
                                              rng.choice(anomalous, anomalous.size))
                       for _ in range(n_boot)]) if n_boot else np.array([[auroc, ap]])
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    return Reliability(auroc, ap, tuple(np.percentile(values[:, 0], [lo, hi]).tolist()),
                       tuple(np.percentile(values[:, 1], [lo, hi]).tolist()),
                       metrics.image_metrics(normal, anomalous)["f1_max"])


def separation(valid: dict[str, np.ndarray], defect: dict[str, np.ndarray]) -> float:
    """The λ-search criterion: mean AUROC of both losses, defect vs valid patches."""
    return float(np.mean([metrics.image_auroc_ap(valid[k], defect[k])[0]
                          for k in ("reconstruction", "latent")]))


@torch.no_grad()
def time_scoring(model: SoukupVAE, batch: torch.Tensor, repeats: int = 20,
                 warmup: int = 3) -> dict:
    """Median seconds to score ``batch`` with the encoder only vs the full autoencoder.

    Encoder only: μ, log σ² → latent loss. Full: encoder → decoder(μ) → reconstruction loss.
    Both in eval mode without gradients, on the model's device, after ``warmup`` untimed
    calls of each, timed calls alternating between the two; the GPU is synchronised after
    every call.
    """
    model.eval()
    batch = batch.to(model.device)
    sync = (lambda: torch.cuda.synchronize()) if model.device.type == "cuda" else (lambda: None)

    def encoder_only():
        return model.kl(*model.posterior(batch))

    def full():
        mu, _ = model.posterior(batch)
        return ((model.decode_signed(mu) - (2 * batch - 1)) ** 2).flatten(1).sum(dim=1)

    calls = {"encoder": encoder_only, "full": full}
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    sync()
    runs: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):            # interleaved, so drift (another process) hits both alike
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            sync()
            runs[name].append(time.perf_counter() - start)
    timings: dict = {name: statistics.median(values) for name, values in runs.items()}
    timings["speedup"] = timings["full"] / timings["encoder"]
    timings["calls"] = runs               # every timed call, for an interval on the ratio
    return timings


@torch.no_grad()
def multiply_accumulates(model: SoukupVAE) -> dict[str, int]:
    """Multiply-accumulate operations per patch of the encoder (c, μ, log σ²) and of the
    decoder (d), counted with forward hooks on every convolution and linear layer.

    A 3×3 convolution costs C_in·C_out·9 per *output* pixel; a transposed one C_in·C_out·9
    per *input* pixel, so a mirrored decoder costs about what the encoder costs and the
    arithmetic predicts a full/encoder ratio near 2.
    """
    counts = {"encoder": 0, "decoder": 0}
    hooks = []

    def hook(part):
        def count(module, inputs, output):
            x = inputs[0]
            if isinstance(module, nn.Conv2d):
                n = output[0].numel() * module.in_channels * module.kernel_size[0] * module.kernel_size[1]
            elif isinstance(module, nn.ConvTranspose2d):
                n = x[0].numel() * module.out_channels * module.kernel_size[0] * module.kernel_size[1]
            else:
                n = module.in_features * module.out_features
            counts[part] += int(n)
        return count

    for part, modules in (("encoder", (model.encoder, model.mu, model.logvar)),
                          ("decoder", (model.expand, model.decoder))):
        for module in modules:
            for m in module.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    hooks.append(m.register_forward_hook(hook(part)))
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, model.in_channels, model.input_size, model.input_size, device=model.device)
        mu, logvar = model.posterior(x)
        model.decode_signed(mu)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    counts["full"] = counts["encoder"] + counts["decoder"]
    return counts
