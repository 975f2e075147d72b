"""Soukup & Pinetz (2018): a convolutional VAE on patches, scored by either of its two losses.

The paper scores a ``patch``-pixel patch (64 in the paper) by its reconstruction loss
``Σ (x − f(x))²`` (encoder and decoder) or by its latent loss ``KL(Q(z|x) ‖ N(0, I))`` (the
encoder only). For a whole image ``soukup_vae`` takes its worst patch on a grid every
``stride`` pixels (default ``patch // 2``): ``scores`` is the largest reconstruction loss of
its grid patches, ``extra["latent"]`` the largest latent loss; the map gives each pixel the
mean reconstruction loss of the patches covering it. Images smaller than a patch, or not
covered by the grid, are padded at the bottom and right (mirrored border) for training and
scoring alike. A patch-sized input is one patch, so ``predict(patches)`` gives per-patch
losses; :meth:`SoukupVAEDetector.patch_losses` gives both at once.

Training sees random ``patch``-pixel crops of the (padded) training images; patch-sized
training images are used as they are (the paper's patch set T).
"""

from __future__ import annotations

import numpy as np
import torch

from adlib import patches
from adlib.detectors import register
from adlib.detectors.base import AE_LATENT, PIXEL_AE, Detector, Prediction, as_images
from adlib.models import soukup

# tiles scored per chunk of images in ``predict`` (bounds the memory of large images)
_TILES_PER_CHUNK = 4096


@register
class SoukupVAEDetector(Detector):
    name = "soukup_vae"
    label = "VAE (Soukup)"
    family = PIXEL_AE
    benchmark_settings = {"patch": 32, "depth": 3, "kl_weight": 1e-5}
    description = ("Soukup & Pinetz's convolutional VAE on patches: reconstruction loss, or the "
                   "encoder-only latent (KL) loss, of the worst patch")
    paper = "soukup2018"
    score_rule = "largest per-patch reconstruction loss Σ(x − f(x))² over the image's grid patches"
    reported_extras = {"latent": "VAE latent (Soukup)"}
    extra_families = {"latent": AE_LATENT}
    defaults = {"patch": 64, "stride": None, "depth": 4, "base_channels": 16, "latent_dim": 64,
                "kl_weight": 1e-5, "lr": 1e-3}
    iterations = 1000
    batch_size = 32
    quick_check = {"patch": 16, "depth": 2, "base_channels": 2, "latent_dim": 4}

    def _check_hyperparameters(self) -> None:
        patch, depth = self.patch, self.depth
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"soukup_vae: depth={depth!r} must be a positive integer")
        if not isinstance(patch, int) or patch < 2 ** depth or patch % 2 ** depth:
            raise ValueError(f"soukup_vae: patch={patch!r} must be a positive multiple of 2**depth={2 ** depth}")
        if self.stride is not None and not (isinstance(self.stride, int) and 1 <= self.stride <= patch):
            raise ValueError(f"soukup_vae: stride={self.stride!r} must be an integer in [1, patch={patch}] "
                             f"(None: patch // 2)")
        if self.kl_weight < 0 or self.lr <= 0:
            raise ValueError(f"soukup_vae: kl_weight (λ)={self.kl_weight} must be >= 0 and lr={self.lr} > 0")

    @property
    def grid_stride(self) -> int:
        """Pixels between the scoring grid's patches (``stride``, default ``patch // 2``)."""
        return self.stride if self.stride is not None else max(1, self.patch // 2)

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        return patches.pad_to_grid(x, self.patch, self.grid_stride)

    # -- the interface --------------------------------------------------------------------------
    def _fit(self, x, *, iterations, batch_size, progress, callback, callback_every):
        self.network = soukup.build(input_size=self.patch, in_channels=self.channels, depth=self.depth,
                                    base_channels=self.base_channels, latent_dim=self.latent_dim,
                                    kl_weight=self.kl_weight)
        exact = tuple(x.shape[-2:]) == (self.patch, self.patch)
        data = x if exact else patches.random_crops(self._padded(x), self.patch)
        self.history = self._train(self.network, data, iterations=iterations, batch_size=batch_size,
                                   progress=progress, callback=callback, callback_every=callback_every,
                                   lr=self.lr)

    def _predict(self, x):
        height, width = x.shape[-2:]
        size, stride = self.patch, self.grid_stride
        scores, latent, maps = [], [], []
        padded_shape = self._padded(x[:1]).shape[-2:]
        per_image = int(np.prod(patches.patch_grid_shape(*padded_shape, size, stride)))
        for chunk in torch.split(x, max(1, _TILES_PER_CHUNK // per_image)):
            tiles = patches.grid_patches(self._padded(chunk), size, stride)
            losses = self._losses(tiles)
            rec = losses["reconstruction"].reshape(len(chunk), per_image)
            scores.append(rec.max(axis=1))
            latent.append(losses["latent"].reshape(len(chunk), per_image).max(axis=1))
            per_tile = torch.from_numpy(losses["reconstruction"]).float()[:, None, None].expand(-1, size, size)
            maps.append(patches.assemble(per_tile, padded_shape, size, stride)[:, :height, :width])
        return Prediction(np.concatenate(scores), torch.cat(maps).numpy(), {"latent": np.concatenate(latent)})

    def _model_inputs(self, x):
        if tuple(x.shape[-2:]) == (self.patch, self.patch):
            return x
        return patches.grid_patches(patches.pad_to_grid(x, self.patch, self.patch), self.patch, self.patch)

    def _reconstruct_inputs(self, inputs):
        return self.network.reconstruct(inputs)

    # -- what the chapter needs ---------------------------------------------------------------------
    def _patches(self, x, what: str = "patches") -> torch.Tensor:
        if not self._fitted:
            raise RuntimeError(f"{self.name}: call fit(train_images) first")
        x = as_images(x, self.channels, what)
        if tuple(x.shape[-2:]) != (self.patch, self.patch):
            raise ValueError(f"{self.name}: {what} must be {self.patch}×{self.patch} (the patch size), got "
                             f"{tuple(x.shape[-2:])}; use predict for whole images")
        return x

    def _losses(self, tiles: torch.Tensor) -> dict[str, np.ndarray]:
        return self.network.losses(tiles)

    def patch_losses(self, patch_set) -> dict[str, np.ndarray]:
        """Both scores of each patch (N, C, patch, patch): {"reconstruction": (N,), "latent": (N,)};
        the latent loss runs the encoder only."""
        return self._losses(self._patches(patch_set))

    def reconstruct(self, patch_set) -> np.ndarray:
        """(N, C, patch, patch) reconstructions in [0, 1], decoded from μ."""
        return self.network.reconstruct(self._patches(patch_set)).numpy()

    def time_scoring(self, patch_set, repeats: int = 20, warmup: int = 3) -> dict[str, float]:
        """Median seconds to score ``patch_set`` as one batch on the detector's device, encoder only
        vs the full autoencoder, and their ratio ``speedup`` (:func:`adlib.models.soukup.time_scoring`)."""
        return soukup.time_scoring(self.network, self._patches(patch_set), repeats=repeats, warmup=warmup)

    def multiply_accumulates(self) -> dict[str, int]:
        """Multiply-accumulates per patch of the encoder, the decoder and both (``full``)."""
        if not self._fitted:
            raise RuntimeError(f"{self.name}: call fit(train_images) first")
        return soukup.multiply_accumulates(self.network)

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters of the encoder (with μ and log σ²) and of the whole VAE."""
        if not self._fitted:
            raise RuntimeError(f"{self.name}: call fit(train_images) first")
        return soukup.parameter_counts(self.network)
