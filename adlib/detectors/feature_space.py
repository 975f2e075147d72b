"""The field's feature-space detectors, on the study's pretrained backbone.

- ``patchcore`` (Roth et al., CVPR 2022): locally aware patch features of two mid-level
  layers (3×3 average, the deeper layer resized to the shallower one's grid, concatenated),
  a greedy coreset of a fraction of all training patches as memory bank, the distance of
  each test patch to its nearest bank patch as map. Image score: the largest patch distance
  (anomalib's score without the reweighting); the paper's reweighted score (eq. 7) is
  ``extra["reweighted"]``.
- ``padim`` (Defard et al., ICPR 2020): the layers stacked on the shallowest grid, a random
  subset of the channels (fixed by the seed), one Gaussian per position (covariance + 0.01·I,
  as the paper and anomalib), the Mahalanobis distance as map; image score: the map's maximum.
- ``feature_ae`` (DFR, Shi et al., Neurocomputing 2021): the layers stacked on one grid and
  standardised per channel; an autoencoder of 1×1 convolutions, trained with the study's
  loop (:func:`adlib.training.fit`) on those features, reconstructs them; map: the squared
  feature residual per position (summed over channels); image score: the map's maximum.
- ``reverse_distillation`` (RD4AD, Deng & Li, CVPR 2022; a light version, see
  :class:`adlib.models.feature_space.ReverseDistillation` for what differs): a student decoder
  restores the frozen teacher's features of three scales from a one-class bottleneck of
  them; map: 1 − cosine similarity of teacher and student per position, upsampled and summed
  over scales; image score: the map's maximum. Trained with the study's loop on the teacher's
  features, computed once.

Every map is upsampled (bilinear) to the input's resolution and blurred by a Gaussian of
``sigma`` = 4 pixels (anomalib's post-processing); the image scores of padim, feature_ae
and reverse_distillation are the maxima of those maps.

Why not anomalib's models: its ``PatchcoreModel`` / ``PadimModel`` / ``ReverseDistillationModel``
build their backbone with timm by name (a hub download, which the study never makes at run
time), and anomalib is only the optional ``reference`` extra (``make env`` does not install
it), so these are written by hand after the papers and anomalib's conventions, on the shipped
EfficientNet-Lite0 (:mod:`adlib.models.features`; anomalib's numbers use ResNet-18 and
Wide-ResNet-50). The backbone is frozen and outside the training loop: features are computed
once, without gradients.
"""

from __future__ import annotations

import torch

from adlib import health as health_checks
from adlib.detectors import register
from adlib.detectors.base import DENSITY, FEATURE_AE, MEMORY_BANK, Detector, Prediction
from adlib.models import feature_space as parts
from adlib.models.features import check_layers, pretrained_features
from adlib.patches import resize


class _FeatureDetector(Detector):
    """What the feature-space detectors share: the backbone's layers, the working size, the maps' blur."""

    defaults = {"layers": ("block4", "block10"), "work_size": None, "sigma": 4.0, "weights_path": None,
                "feature_batch": 16}

    def _check_hyperparameters(self) -> None:
        check_layers(self.layers)
        if self.work_size is not None and (not isinstance(self.work_size, int) or self.work_size < 16):
            raise ValueError(f"{self.name}: work_size={self.work_size!r} must be None (the input's size) or an "
                             f"integer >= 16")
        if not self.sigma >= 0:
            raise ValueError(f"{self.name}: sigma={self.sigma!r} (the maps' blur, pixels) must be >= 0")

    def _backbone(self):
        return pretrained_features(self.layers, self.weights_path, self.device)

    def _working(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.work_size is None else resize(x, self.work_size)

    def _layer_maps(self, x: torch.Tensor, combine) -> torch.Tensor:
        """combine(feature maps) of every image, ``feature_batch`` images at a time, on the device."""
        return self._backbone().batched(self._working(x), self.feature_batch, combine)

    def _maps(self, grid_scores: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return parts.image_maps(grid_scores, tuple(x.shape[-2:]), self.sigma)


@register
class PatchCore(_FeatureDetector):
    name = "patchcore"
    label = "PatchCore"
    family = MEMORY_BANK
    benchmark_settings = {}
    description = ("PatchCore: locally aware pretrained patch features, greedy coreset memory bank, "
                   "nearest-neighbour distance map")
    paper = "roth2022patchcore"
    score_rule = ("largest nearest-neighbour patch distance (anomalib without reweighting); the paper's "
                  "reweighted score is extra['reweighted']")
    takes_steps = False
    defaults = {**_FeatureDetector.defaults, "coreset_fraction": 0.01, "projection_dim": 128, "neighbours": 9}

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        if not 0 < self.coreset_fraction <= 1:
            raise ValueError(f"patchcore: coreset_fraction={self.coreset_fraction} must lie in (0, 1]")
        if self.projection_dim is not None and self.projection_dim < 1:
            raise ValueError(f"patchcore: projection_dim={self.projection_dim} must be None or >= 1")
        if self.neighbours < 1:
            raise ValueError(f"patchcore: neighbours={self.neighbours} must be >= 1")

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        return self._layer_maps(x, parts.patch_features)                  # (N, D, h, w)

    def _fit(self, x, **_):
        embeddings = self._embed(x)
        patches = embeddings.permute(0, 2, 3, 1).reshape(-1, embeddings.shape[1])
        generator = torch.Generator().manual_seed(self.seed)
        rows = parts.greedy_coreset(patches, parts.coreset_size(len(patches), self.coreset_fraction),
                                    self.projection_dim, generator)
        self.bank = patches[rows.to(patches.device)].contiguous()
        self.training_patches = len(patches)

    def _predict(self, x):
        embeddings = self._embed(x)
        n, dim, h, w = embeddings.shape
        queries = embeddings.permute(0, 2, 3, 1).reshape(n, h * w, dim)
        distances, rows = parts.nearest_bank_rows(queries.reshape(-1, dim), self.bank)
        distances, rows = distances.view(n, h * w), rows.view(n, h * w)
        reweighted = parts.reweighted_image_scores(distances, rows, queries, self.bank, self.neighbours)
        maps = self._maps(distances.view(n, h, w), x)
        return Prediction(distances.amax(dim=1).cpu().numpy(), maps.cpu().numpy(),
                          {"reweighted": reweighted.cpu().numpy()})


@register
class PaDiM(_FeatureDetector):
    name = "padim"
    label = "PaDiM"
    family = DENSITY
    benchmark_settings = {}
    description = ("PaDiM: a Gaussian per position of pretrained multi-layer features (random channel "
                   "subset), Mahalanobis distance map")
    paper = "defard2021padim"
    score_rule = "maximum of the Mahalanobis distance map (upsampled, Gaussian-blurred)"
    takes_steps = False
    defaults = {**_FeatureDetector.defaults, "layers": ("block2", "block4", "block10"), "features_kept": 100,
                "epsilon": 0.01}

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        if self.features_kept < 1 or self.epsilon <= 0:
            raise ValueError(f"padim: features_kept={self.features_kept} must be >= 1 and epsilon={self.epsilon} > 0")

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, d, h, w): the kept channels of the stacked layers (nearest-neighbour upsampling, as anomalib)."""
        def kept(maps):
            return parts.stacked_features(maps, mode="nearest")[:, self.channels_kept.to(maps[0].device)]
        return self._layer_maps(x, kept)

    def _fit(self, x, **_):
        total = sum(self._backbone().channels)
        generator = torch.Generator().manual_seed(self.seed)
        # the subset is sorted so that the kept channels keep their layers' order
        self.channels_kept = torch.randperm(total, generator=generator)[:min(self.features_kept, total)].sort().values
        embeddings = self._embed(x)
        self.grid = tuple(embeddings.shape[-2:])
        self.mean, self.inverse_covariance = parts.gaussian_fit(embeddings.flatten(2), self.epsilon)

    def _predict(self, x):
        embeddings = self._embed(x)
        if tuple(embeddings.shape[-2:]) != self.grid:
            raise ValueError(f"padim: test images give a {tuple(embeddings.shape[-2:])} feature grid, the training "
                             f"images {self.grid}: give test images of the training images' size")
        distances = parts.mahalanobis(embeddings.flatten(2), self.mean, self.inverse_covariance)
        maps = self._maps(distances.view(len(x), *self.grid), x)
        return Prediction(maps.flatten(1).amax(dim=1).cpu().numpy(), maps.cpu().numpy())


@register
class FeatureAE(_FeatureDetector):
    name = "feature_ae"
    label = "Feature-space AE (DFR)"
    family = FEATURE_AE
    benchmark_settings = {}
    description = ("DFR: an autoencoder of 1×1 convolutions reconstructing standardised pretrained "
                   "multi-layer feature maps; map: squared feature residual")
    paper = "shi2021dfr"
    score_rule = "maximum of the squared feature residual map (upsampled, Gaussian-blurred)"
    iterations = 500
    batch_size = 8
    defaults = {**_FeatureDetector.defaults, "layers": ("block2", "block4", "block10"), "grid": "block4",
                "latent": 64, "lr": 1e-3}
    quick_check = {"latent": 8}

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        if self.grid not in self.layers:
            raise ValueError(f"feature_ae: grid={self.grid!r} (the layer whose grid the features share) must be "
                             f"one of layers={tuple(self.layers)!r}")
        if self.latent < 1 or not self.lr > 0:
            raise ValueError(f"feature_ae: latent={self.latent} must be >= 1 and lr={self.lr} > 0")

    def _stacked(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) the layers' maps on the ``grid`` layer's grid, concatenated, on the CPU."""
        at = list(self.layers).index(self.grid)
        return self._layer_maps(x, lambda maps: parts.stacked_features(maps, tuple(maps[at].shape[-2:]))).cpu()

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """The stacked features standardised per channel with the training images' statistics."""
        return (self._stacked(x) - self.feature_mean) / self.feature_std

    def _fit(self, x, *, iterations, batch_size, progress, callback, callback_every):
        raw = self._stacked(x)
        # per-channel standardisation, so that the squared error is not ruled by the widest-ranging channels
        self.feature_mean = raw.mean(dim=(0, 2, 3), keepdim=True)
        self.feature_std = raw.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
        features = (raw - self.feature_mean) / self.feature_std
        self.network = parts.FeatureAE(features.shape[1], self.latent)
        self.history = self._train(self.network, features, iterations=iterations, batch_size=batch_size,
                                   progress=progress, callback=callback, callback_every=callback_every, lr=self.lr)
        # base.fit asks for the training inputs once more: hand over these instead of recomputing
        self._training_features = (x, features)

    def _model_inputs(self, x):
        pending = self.__dict__.pop("_training_features", None)
        if pending is not None and pending[0] is x:
            return pending[1]
        return self._features(x)

    def _reconstruct_inputs(self, inputs):
        return self.network.reconstruct(inputs, batch_size=self.feature_batch)

    def _predict(self, x):
        features = self._features(x)
        residual = ((features - self._reconstruct_inputs(features)) ** 2).sum(dim=1)     # (N, h, w)
        maps = self._maps(residual, x)
        return Prediction(maps.flatten(1).amax(dim=1).numpy(), maps.numpy())



@register
class ReverseDistillationDetector(_FeatureDetector):
    name = "reverse_distillation"
    label = "Reverse distillation (RD4AD, light)"
    family = FEATURE_AE
    benchmark_settings = {}
    description = ("Light RD4AD: a student decoder restores the frozen teacher's multi-scale features "
                   "from a one-class bottleneck; map: 1 − cosine similarity, summed over scales")
    paper = "deng2022rd4ad"
    score_rule = "maximum of the summed cosine-distance maps (upsampled, Gaussian-blurred)"
    iterations = 300                   # ~1 s a step at 256 px on one CPU core
    batch_size = 8
    defaults = {**_FeatureDetector.defaults, "layers": ("block2", "block4", "block10"), "embedding": 128,
                "lr": 5e-3}
    quick_check = {"embedding": 8}

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        if self.embedding < 1 or not self.lr > 0:
            raise ValueError(f"reverse_distillation: embedding={self.embedding} must be >= 1 and lr={self.lr} > 0")

    def _teacher(self, x: torch.Tensor) -> torch.Tensor:
        """(N, Σ C·h·w) the teacher's features of every layer, packed, on the CPU."""
        return self._layer_maps(x, parts.pack).cpu()

    def _fit(self, x, *, iterations, batch_size, progress, callback, callback_every):
        shapes = [tuple(m.shape[1:]) for m in self._backbone()(self._working(x[:1]))]     # (C, h, w) per layer
        teacher = self._teacher(x)
        self.network = parts.ReverseDistillation(shapes, self.embedding)
        self.history = self._train(self.network, teacher, iterations=iterations, batch_size=batch_size,
                                   progress=progress, callback=callback, callback_every=callback_every, lr=self.lr)
        self._training_features = (x, teacher)       # handed to base.fit's _model_inputs, as feature_ae
        self.unit_train_mean = self._unit(teacher).mean(dim=0)

    def _unit(self, packed: torch.Tensor) -> torch.Tensor:
        # the loss is blind to each position's feature length: compare directions only
        return parts.pack([torch.nn.functional.normalize(m, dim=1) for m in self.network.unpack(packed)])

    def _model_inputs(self, x):
        pending = self.__dict__.pop("_training_features", None)
        return pending[1] if pending is not None and pending[0] is x else self._teacher(x)

    def _reconstruct_inputs(self, inputs):
        return self.network.reconstruct(inputs, batch_size=self.feature_batch)

    def _health(self, x):
        # judged in the training loss (cosine distance) on unit feature vectors, whose spread and
        # error are comparable between teacher and student whatever the student's feature lengths
        teacher = self._teacher(x)
        student = self._reconstruct_inputs(teacher)
        checks = health_checks.reconstruction_checks(self._unit(teacher), self._unit(student), self.unit_train_mean,
                                                     error=self.network.per_image_loss)
        return health_checks.assess({**health_checks.loss_checks(self.history.series("loss")), **checks})

    def _predict(self, x):
        teacher = self._teacher(x)
        student = self._reconstruct_inputs(teacher)
        distances = parts.cosine_distance_maps(self.network.unpack(teacher), self.network.unpack(student))
        size = tuple(x.shape[-2:])
        summed = sum(parts.image_maps(d, size, 0.0) for d in distances)      # anomalib's "add" mode
        maps = parts.gaussian_smooth(summed, self.sigma)
        return Prediction(maps.flatten(1).amax(dim=1).numpy(), maps.numpy())
