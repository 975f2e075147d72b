"""Schneider et al. (VISAPP 2022): the CAE, VAE and AAE as patch detectors of whole images.

    detector = detectors.get("schneider_cae", channels=1, patch=32, variant="synthetic")
    detector.fit(images, iterations=600)           # random patch-sized crops of the images
    prediction = detector.predict(test)           # maps: (x − x̂)² over overlapping tiles
    detector.reconstruct(test)                     # whole images, tile by tile
    detector.patch_errors(test)                    # (N, rows, cols) mean error per tile

The networks (:mod:`adlib.models.schneider`) have a linear bottleneck, so they see
``patch``-pixel squares only: training draws random crops whose corners lie on multiples of
``crop_step`` (the chapter uses the chess square, so the board appears in a fixed set of
phases); scoring cuts a grid of tiles every ``stride`` pixels, and the squared residual of
each tile, averaged over channels, is averaged over the overlapping tiles into one map per
image (their eq. 1). Images smaller than a patch, or not covered by the grid, are padded at
the bottom and right by mirroring (:func:`adlib.patches.pad_to_grid`) and the maps cropped
back. The paper localises and defines no image score, so the image score is the
:func:`~adlib.detectors.base.smoothed_max` of the map.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from adlib.detectors import register
from adlib.detectors.base import PIXEL_AE, Detector, Prediction, as_images, smoothed_max
from adlib.models import schneider
from adlib.patches import grid_patches, image_anomaly_maps, pad_to_grid, random_crops, reconstruct_images

SCORE_RULE = ("maximum of the anomaly map after a 5×5 mean filter (the paper localises and "
              "defines no image score)")


class SchneiderPatchAE(Detector):
    """Shared by the three models; subclasses set ``kind`` and their extra hyperparameters."""

    kind: ClassVar[str] = ""
    paper = "schneider2022"
    score_rule = SCORE_RULE
    localises = True
    iterations = 1000
    batch_size = 32
    # patch: side of the network's input (a multiple of 16); variant: encoder of their
    # Table 2; stride: of the scoring grid (None: patch // 2); crop_step: training crops start
    # at multiples of it; r, n_z: widths of the linear bottleneck (their Table 3)
    defaults: ClassVar[dict] = {"patch": 32, "variant": "synthetic", "stride": None, "crop_step": 1,
                                "lr": 1e-3, "r": 1024, "n_z": 100}
    quick_check: ClassVar[dict] = {"patch": 16}

    def _check_hyperparameters(self) -> None:
        if not isinstance(self.patch, int) or self.patch < 16 or self.patch % 16:
            raise ValueError(f"{self.name}: patch={self.patch!r} must be a positive multiple of 16 "
                             f"(the encoder reduces the resolution 16×)")
        if self.variant not in schneider.ENCODER_PLANS:
            raise ValueError(f"{self.name}: variant={self.variant!r} is not one of "
                             f"{sorted(schneider.ENCODER_PLANS)}")
        if self.stride is not None and not (isinstance(self.stride, int) and 1 <= self.stride <= self.patch):
            raise ValueError(f"{self.name}: stride={self.stride!r} must be an integer in 1..patch "
                             f"({self.patch}), or None for patch // 2")
        if not isinstance(self.crop_step, int) or self.crop_step < 1:
            raise ValueError(f"{self.name}: crop_step={self.crop_step!r} must be a positive integer")
        if not self.lr > 0:
            raise ValueError(f"{self.name}: lr={self.lr} must be positive")

    @property
    def scoring_stride(self) -> int:
        """The stride of the overlapping scoring grid (``stride``, or ``patch // 2``)."""
        return self.stride if self.stride is not None else self.patch // 2

    def _model_kwargs(self) -> dict:
        return {}

    def build_network(self) -> schneider.CAE:
        """A new, untrained network for this detector's settings (``fit`` builds its own)."""
        return schneider.build(self.kind, input_size=self.patch, in_channels=self.channels,
                               variant=self.variant, r=self.r, n_z=self.n_z, **self._model_kwargs())

    # -- fit / predict -------------------------------------------------------------------------
    def _fit(self, x, *, iterations, batch_size, progress, callback, callback_every):
        self.network = self.build_network()
        crops = random_crops(pad_to_grid(x, self.patch, 1), self.patch, step=self.crop_step)
        self.history = self._train(self.network, crops, iterations=iterations, batch_size=batch_size,
                                   progress=progress, callback=callback, callback_every=callback_every,
                                   lr=self.lr)

    def _predict(self, x):
        maps = self._maps(x)
        return Prediction(smoothed_max(maps), maps.numpy())

    def _model_inputs(self, x):
        return grid_patches(pad_to_grid(x, self.patch, self.patch), self.patch, self.patch)

    def _reconstruct_inputs(self, inputs):
        return self.network.reconstruct(inputs)

    # -- what the chapter reads -----------------------------------------------------------------
    def _ready(self, images, what: str) -> torch.Tensor:
        if not hasattr(self, "network"):
            raise RuntimeError(f"{self.name}: call fit(train_images) before {what}")
        return as_images(images, self.channels, "images")

    @torch.no_grad()
    def _maps(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        stride = self.scoring_stride
        padded = pad_to_grid(x, self.patch, stride)
        return image_anomaly_maps(self.network, padded, self.patch, stride)[:, :height, :width].clamp_min(0)

    @torch.no_grad()
    def reconstruct(self, images) -> torch.Tensor:
        """(N, C, H, W) reconstructions of whole images, tile by tile (no overlap), on the CPU.
        Also usable inside a ``fit`` callback (reconstructions over training)."""
        x = self._ready(images, "reconstruct")
        height, width = x.shape[-2:]
        padded = pad_to_grid(x, self.patch, self.patch)
        return reconstruct_images(self.network, padded, self.patch)[:, :, :height, :width]

    @torch.no_grad()
    def patch_errors(self, images) -> np.ndarray:
        """(N, rows, cols) mean squared reconstruction error of each tile of a non-overlapping
        ``patch``-pixel grid (their Fig 6 histograms); see :meth:`patch_shares` for masks."""
        x = self._ready(images, "patch_errors")
        padded = pad_to_grid(x, self.patch, self.patch)
        residual = ((padded - reconstruct_images(self.network, padded, self.patch)) ** 2).mean(dim=1)
        return F.avg_pool2d(residual[:, None], self.patch, stride=self.patch)[:, 0].double().numpy()

    def patch_shares(self, masks) -> np.ndarray:
        """(N, rows, cols) share of each tile's pixels inside ``masks`` (N, H, W), on the grid of
        :meth:`patch_errors`."""
        m = torch.as_tensor(np.asarray(masks, dtype=np.float32))[:, None]
        padded = pad_to_grid(m, self.patch, self.patch)
        return F.avg_pool2d(padded, self.patch, stride=self.patch)[:, 0].double().numpy()

    def reconstruction_losses(self) -> list[float]:
        """The training history's reconstruction MSE per pixel, one value per iteration (for the
        VAE without its KL term)."""
        if self.history is None:
            raise RuntimeError(f"{self.name}: call fit(train_images) first")
        return self.history.series("loss")


@register
class SchneiderCAE(SchneiderPatchAE):
    name = "schneider_cae"
    label = "CAE (Schneider)"
    family = PIXEL_AE
    benchmark_settings = {"patch": 32}
    description = "Schneider et al.'s convolutional autoencoder (MSE) on patches; map (x − x̂)² over overlapping tiles"
    kind = "CAE"


@register
class SchneiderVAE(SchneiderPatchAE):
    name = "schneider_vae"
    label = "VAE (Schneider)"
    family = PIXEL_AE
    benchmark_settings = {"patch": 32}
    description = "Schneider et al.'s variational autoencoder on patches (decoder fed μ when scoring)"
    kind = "VAE"
    defaults = {**SchneiderPatchAE.defaults, "kl_weight": 1.0}

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        if self.kl_weight < 0:
            raise ValueError(f"{self.name}: kl_weight={self.kl_weight} must be >= 0")

    def _model_kwargs(self) -> dict:
        return {"kl_weight": self.kl_weight}

    def reconstruction_losses(self) -> list[float]:
        super().reconstruction_losses()
        return self.history.series("mse")


@register
class SchneiderAAE(SchneiderPatchAE):
    name = "schneider_aae"
    label = "AAE (Schneider)"
    family = PIXEL_AE
    benchmark_settings = {"patch": 32}
    description = "Schneider et al.'s adversarial autoencoder (Wasserstein critic on the code) on patches"
    kind = "AAE"
    # n_critic critic updates per step, weights clipped to ±clip; adversarial_weight scales the
    # encoder's update against the critic; adversarial_lr the learning rate of the critic and of
    # that update (None: lr)
    defaults = {**SchneiderPatchAE.defaults, "n_critic": 5, "clip": 0.01, "adversarial_weight": 1.0,
                "adversarial_lr": None}

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        if not isinstance(self.n_critic, int) or self.n_critic < 1:
            raise ValueError(f"{self.name}: n_critic={self.n_critic!r} must be a positive integer")
        if not self.clip > 0:
            raise ValueError(f"{self.name}: clip={self.clip} must be positive")

    def _model_kwargs(self) -> dict:
        return {"n_critic": self.n_critic, "clip": self.clip, "adversarial_weight": self.adversarial_weight,
                "adversarial_lr": self.adversarial_lr}
