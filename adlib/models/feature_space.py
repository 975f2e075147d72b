"""The parts of the feature-space detectors (:mod:`adlib.detectors.feature_space`).

- :func:`patch_features` — PatchCore's locally aware patch features: each layer's map
  averaged over 3×3 neighbourhoods, resized to the first layer's grid, concatenated
  (Roth et al., 2022, eq. 2 with p = 3; anomalib's ``AvgPool2d(3, 1, 1)`` + bilinear).
- :func:`stacked_features` — the layers resized to one grid and concatenated, without the
  neighbourhood average (PaDiM, DFR).
- :func:`greedy_coreset` — greedy k-centre selection on a random projection, lazily: only
  the rows that can still be the farthest are recomputed (:func:`naive_greedy_coreset` is the
  plain loop it is tested against).
- :func:`nearest_bank_rows` — nearest memory-bank row of every query, in chunks
  (``torch.cdist``); :func:`reweighted_image_scores` — PatchCore's image score (their eq. 7).
- :func:`gaussian_fit` / :func:`mahalanobis` — PaDiM's Gaussian per position and its distance.
- :func:`gaussian_smooth` — the maps' Gaussian blur (sigma 4 in anomalib).
- :class:`FeatureAE` — DFR's autoencoder of 1×1 convolutions (as per-position linear layers).
- :class:`ReverseDistillation` — a light RD4AD student: one-class bottleneck and decoder.
  :func:`pack` puts multi-scale features into one tensor per image for the training loop.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from adlib.models.base import Autoencoder


# ----------------------------------------------------------------------------- embeddings

def resized_to(feature_map: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """A feature map on another grid: averaged over cells when shrinking, interpolated when growing."""
    if tuple(feature_map.shape[-2:]) == tuple(size):
        return feature_map
    if feature_map.shape[-2] >= size[0] and feature_map.shape[-1] >= size[1]:
        return F.adaptive_avg_pool2d(feature_map, size)
    if mode == "nearest":
        return F.interpolate(feature_map, size=size, mode="nearest")
    return F.interpolate(feature_map, size=size, mode=mode, align_corners=False)


def stacked_features(maps: list[torch.Tensor], size: tuple[int, int] | None = None,
                     mode: str = "bilinear") -> torch.Tensor:
    """(N, ΣC, h, w): every layer's map on the grid ``size`` (default: the first map's), concatenated."""
    size = tuple(maps[0].shape[-2:]) if size is None else tuple(size)
    return torch.cat([resized_to(m, size, mode) for m in maps], dim=1)


def patch_features(maps: list[torch.Tensor]) -> torch.Tensor:
    """PatchCore's locally aware features: 3×3 average of each layer, on the first layer's grid."""
    return stacked_features([F.avg_pool2d(m, 3, stride=1, padding=1) for m in maps])


# ----------------------------------------------------------------------------- memory bank

def coreset_size(patches: int, fraction: float) -> int:
    return min(patches, max(1, int(round(fraction * patches))))


@torch.no_grad()
def greedy_coreset(features: torch.Tensor, size: int, projection_dim: int | None = 128,
                   generator: torch.Generator | None = None, candidates: int = 4096) -> torch.Tensor:
    """(size,) row indices of ``features`` (M, D) chosen by greedy k-centre selection.

    The first centre is a random row; each next one is the row farthest from the centres so
    far. Distances are measured after a Gaussian random projection to ``projection_dim``
    dimensions (None or ≥ D: none), which keeps them within a small factor (Johnson–
    Lindenstrauss; Roth et al. §3.2).

    The selection is the plain loop's (:func:`naive_greedy_coreset`, up to rounding), but
    lazy. The plain loop reads all M rows once per centre; here every row keeps an upper bound
    of its distance to the centres (exact when last computed, and a row's distance only
    shrinks as centres are added). Only the ``candidates`` rows of largest bound are made
    exact and followed centre by centre; while the best of them is at least the largest bound
    outside them, it is the true farthest row. Rows far down the order (already close to a
    centre, most of them after a few hundred centres) are never computed again.
    """
    m, dim = features.shape
    if not 1 <= size <= m:
        raise ValueError(f"coreset size {size} must lie in [1, {m}]")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    x = features.float()
    if projection_dim is not None and projection_dim < dim:
        projection = torch.randn(dim, projection_dim, generator=generator) / math.sqrt(projection_dim)
        x = x @ projection.to(x.device)
    x = x.contiguous()
    squared_norms = (x * x).sum(dim=1)

    def distances(rows: torch.Tensor, centre_rows: torch.Tensor) -> torch.Tensor:
        # ‖x − c‖² = ‖x‖² − 2 x·c + ‖c‖², (len(rows), len(centre_rows))
        return (squared_norms[rows, None] - 2.0 * x[rows] @ x[centre_rows].T
                + squared_norms[centre_rows][None]).clamp_min_(0)

    centres = torch.empty(size, dtype=torch.long, device=x.device)
    centres[0] = int(torch.randint(m, (1,), generator=generator))
    chosen = 1
    bound_of = distances(torch.arange(m, device=x.device), centres[:1])[:, 0]   # upper bounds, exact now
    bound_of[centres[0]] = 0.0
    applied = torch.ones(m, dtype=torch.long, device=x.device)   # centres each bound has seen
    keep = min(candidates, m)
    while chosen < size:
        top = torch.topk(bound_of, min(keep + 1, m))
        rows = top.indices[:keep]
        outside = top.values[keep] if m > keep else torch.tensor(-1.0, device=x.device)
        stale = rows[applied[rows] < chosen]
        if len(stale):                        # make the candidates exact against the centres they missed
            since = int(applied[stale].min())
            for start in range(since, chosen, 512):
                part = centres[start:min(start + 512, chosen)]
                bound_of[stale] = torch.minimum(bound_of[stale], distances(stale, part).amin(dim=1))
            applied[stale] = chosen
        exact = bound_of[rows]
        # the candidates' rows gathered once: each centre then costs one small, cached product
        candidate_x, candidate_norms = x[rows], squared_norms[rows]
        while chosen < size:
            best = int(torch.argmax(exact))
            if exact[best] < outside:         # a row outside may be farther: take a new top
                break
            centres[chosen] = rows[best]
            chosen += 1
            to_centre = torch.addmv(candidate_norms, candidate_x, candidate_x[best], alpha=-2.0)
            exact = torch.minimum(exact, to_centre.add_(candidate_norms[best]).clamp_min_(0))
            exact[best] = 0.0                 # rounding must not pick a centre again
        bound_of[rows] = exact
        applied[rows] = chosen
    return centres.cpu()


def naive_greedy_coreset(features: torch.Tensor, size: int, first: int) -> torch.Tensor:
    """The plain greedy k-centre loop without projection (one pass over all rows per centre):
    the reference :func:`greedy_coreset` is tested against."""
    x = features.double()
    nearest = torch.full((len(x),), float("inf"), dtype=torch.float64)
    selected, centre = [], first
    for _ in range(size):
        selected.append(centre)
        nearest = torch.minimum(nearest, ((x - x[centre]) ** 2).sum(dim=1))
        centre = int(torch.argmax(nearest))
    return torch.tensor(selected, dtype=torch.long)


@torch.no_grad()
def nearest_bank_rows(queries: torch.Tensor, bank: torch.Tensor, chunk: int = 4096):
    """(distances (Q,), rows (Q,)): Euclidean distance of each query to its nearest bank row."""
    distances, rows = [], []
    for part in torch.split(queries, chunk):
        d = torch.cdist(part.to(bank.device).float(), bank)
        value, index = d.min(dim=1)
        distances.append(value)
        rows.append(index)
    return torch.cat(distances), torch.cat(rows)


@torch.no_grad()
def reweighted_image_scores(grid_scores: torch.Tensor, grid_rows: torch.Tensor, queries: torch.Tensor,
                            bank: torch.Tensor, neighbours: int = 9) -> torch.Tensor:
    """PatchCore's image score (Roth et al., eq. 7, as anomalib computes it): the largest patch
    distance s*, weighted by 1 − softmax of the test patch's distances to the ``neighbours``
    nearest bank rows of its own nearest bank row m* (the first of them is m* itself), so that
    a patch whose neighbour lies in a sparse region of the bank counts more.

    ``grid_scores`` and ``grid_rows`` (N, P); ``queries`` (N, P, D)."""
    worst = grid_scores.argmax(dim=1)
    image = torch.arange(len(worst), device=worst.device)
    score = grid_scores[image, worst]
    patch = queries[image, worst].to(bank.device)                      # (N, D)
    m_star = bank[grid_rows[image, worst]]                             # (N, D)
    k = min(neighbours, len(bank))
    support = torch.cdist(m_star, bank).topk(k, dim=1, largest=False).indices     # (N, k)
    distances = torch.cdist(patch[:, None], bank[support]).squeeze(1)              # (N, k)
    weight = 1.0 - torch.softmax(distances, dim=1)[:, 0]
    return weight * score


# ----------------------------------------------------------------------------- Gaussians

@torch.no_grad()
def gaussian_fit(embeddings: torch.Tensor, epsilon: float = 0.01, chunk: int = 256):
    """PaDiM: the mean (d, P) and inverse covariance (P, d, d) of ``embeddings`` (N, d, P) at each
    of the P positions; the covariance is regularised by ``epsilon``·I (0.01 in the paper and
    anomalib), which also makes it invertible with fewer images than dimensions."""
    n, d, p = embeddings.shape
    mean = embeddings.mean(dim=0)
    identity = torch.eye(d, device=embeddings.device)
    inverse = torch.empty(p, d, d, device=embeddings.device)
    for start in range(0, p, chunk):
        centred = (embeddings[:, :, start:start + chunk] - mean[None, :, start:start + chunk]).permute(2, 0, 1)
        covariance = centred.transpose(1, 2) @ centred / max(n - 1, 1) + epsilon * identity
        inverse[start:start + chunk] = torch.linalg.inv(covariance.double()).float()
    return mean, inverse


@torch.no_grad()
def mahalanobis(embeddings: torch.Tensor, mean: torch.Tensor, inverse: torch.Tensor,
                chunk: int = 256) -> torch.Tensor:
    """(N, P) Mahalanobis distances of ``embeddings`` (N, d, P) to the Gaussians of each position."""
    n, _, p = embeddings.shape
    out = torch.empty(n, p, device=embeddings.device)
    for start in range(0, p, chunk):
        delta = (embeddings[:, :, start:start + chunk] - mean[None, :, start:start + chunk]).permute(2, 0, 1)
        squared = ((delta @ inverse[start:start + chunk]) * delta).sum(dim=2)       # (chunk, N)
        out[:, start:start + chunk] = squared.clamp_min(0).sqrt().T
    return out


# ----------------------------------------------------------------------------- maps

def gaussian_smooth(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """(N, H, W) maps blurred by a Gaussian of ``sigma`` pixels (kernel 2·⌊4σ + 0.5⌋ + 1, as
    anomalib; reflected borders; the kernel shrinks on maps smaller than it)."""
    if sigma <= 0:
        return maps
    height, width = maps.shape[-2:]
    radius = min(int(4 * sigma + 0.5), height - 1, width - 1)
    if radius < 1:
        return maps
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=maps.device)
    kernel = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    x = F.pad(maps[:, None].float(), (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))
    return x[:, 0]


def image_maps(grid_scores: torch.Tensor, size: tuple[int, int], sigma: float) -> torch.Tensor:
    """(N, h, w) scores on the feature grid → (N, H, W): bilinear upsampling, then Gaussian blur."""
    upsampled = F.interpolate(grid_scores[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]
    return gaussian_smooth(upsampled, sigma)


# ----------------------------------------------------------------------------- DFR

class FeatureAE(Autoencoder):
    """DFR's convolutional autoencoder (Shi et al., 2021, §3.3): 1×1 convolutions only, so each
    feature position is encoded on its own: C → (C + 2c)/2 → 2c → c → 2c → (C + 2c)/2 → C, batch
    norm and ReLU between them, no activation on the code or the output (the features are
    standardised, not bounded). Loss: mean squared error of the features.

    A 1×1 convolution is a linear layer applied to every position's feature vector, and batch
    norm over (images, positions) is BatchNorm1d over those vectors: written that way, because
    PyTorch's 1×1 convolutions ran some 40 times slower on the CPU for these shapes.
    """

    def __init__(self, channels: int, latent: int):
        super().__init__()
        middle = (channels + 2 * latent) // 2

        def layer(a: int, b: int) -> list[nn.Module]:
            return [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]

        self.encoder = nn.Sequential(*layer(channels, middle), *layer(middle, 2 * latent), nn.Linear(2 * latent, latent))
        self.decoder = nn.Sequential(*layer(latent, 2 * latent), *layer(2 * latent, middle), nn.Linear(middle, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        vectors = x.permute(0, 2, 3, 1).reshape(-1, c)               # one row per position
        return self.decoder(self.encoder(vectors)).view(n, h, w, c).permute(0, 3, 1, 2)


# ----------------------------------------------------------------------------- reverse distillation

def pack(maps: list[torch.Tensor]) -> torch.Tensor:
    """Feature maps of several scales → one (N, Σ C·h·w) tensor, so that :func:`adlib.training.fit`
    draws them as one sample per image; :meth:`ReverseDistillation.unpack` undoes it."""
    return torch.cat([m.flatten(1) for m in maps], dim=1)


def cosine_distance_maps(teacher: list[torch.Tensor], student: list[torch.Tensor]) -> list[torch.Tensor]:
    """(N, h, w) 1 − cosine similarity of the channel vectors at every position, one per scale."""
    return [1.0 - F.cosine_similarity(t.float(), s.float(), dim=1) for t, s in zip(teacher, student)]


class ReverseDistillation(Autoencoder):
    """A light RD4AD student (Deng & Li, CVPR 2022). The frozen teacher's features of several
    scales (shallow to deep) are fused on the deepest grid (3×3 convolution per scale, average
    pooling to that grid, concatenation: their multi-scale feature fusion), squeezed into a
    one-class embedding at half that grid (1×1 then stride-2 3×3 convolution: their one-class
    bottleneck), and a student decoder restores each scale from it, deepest first (upsampling,
    two 3×3 convolutions per scale, as wide as the teacher's layer). Loss: the mean over
    positions of 1 − cosine similarity between teacher and student, summed over scales (their
    eq. 2–3). What differs from RD4AD: one convolution block per stage instead of ResNet
    stages, a narrower teacher (EfficientNet-Lite0: 24/40/112 channels, WideResNet-50's have
    256/512/1024), interpolation instead of strided and transposed convolutions (any image size).
    """

    def __init__(self, shapes: list[tuple[int, int, int]], embedding: int = 128):
        super().__init__()
        self.shapes = [tuple(int(v) for v in s) for s in shapes]       # (C, h, w) per scale, shallow to deep
        channels = [c for c, _, _ in self.shapes]

        def block(a: int, b: int, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(a, b, 3, stride=stride, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]

        self.fuse = nn.ModuleList([nn.Sequential(*block(c, c)) for c in channels])
        self.bottleneck = nn.Sequential(nn.Conv2d(sum(channels), embedding, 1), nn.BatchNorm2d(embedding),
                                        nn.ReLU(inplace=True), *block(embedding, embedding, stride=2))
        widths = [embedding, *channels[::-1]]
        self.decoder = nn.ModuleList([
            nn.Sequential(*block(widths[i], widths[i + 1]), nn.Conv2d(widths[i + 1], widths[i + 1], 3, padding=1))
            for i in range(len(channels))])

    def unpack(self, x: torch.Tensor) -> list[torch.Tensor]:
        sizes = [c * h * w for c, h, w in self.shapes]
        if x.shape[1] != sum(sizes):
            raise ValueError(f"features of {x.shape[1]} values per image, the student was built for {sum(sizes)} "
                             f"(another image size than the training images'?)")
        return [part.view(len(x), *shape) for part, shape in zip(torch.split(x, sizes, dim=1), self.shapes)]

    def student(self, teacher: list[torch.Tensor]) -> list[torch.Tensor]:
        """The student's features, shallow to deep like the teacher's."""
        grid = self.shapes[-1][1:]
        fused = torch.cat([F.adaptive_avg_pool2d(f(t), grid) for f, t in zip(self.fuse, teacher)], dim=1)
        h = self.bottleneck(fused)
        out = []
        for stage, (_, height, width) in zip(self.decoder, self.shapes[::-1]):
            h = stage(F.interpolate(h, size=(height, width), mode="bilinear", align_corners=False))
            out.append(h)
        return out[::-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pack(self.student(self.unpack(x)))

    def per_image_loss(self, outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """(N,) the training loss of each image, from packed student ``outputs`` and teacher ``inputs``."""
        maps = cosine_distance_maps(self.unpack(inputs), self.unpack(outputs))
        return sum(m.flatten(1).mean(dim=1) for m in maps)

    def loss(self, x: torch.Tensor):
        loss = self.per_image_loss(self(x), x).mean()
        return loss, {"loss": loss.detach()}
