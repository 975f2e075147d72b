"""Fadaeinejad (2023): the whole-image convolutional autoencoder with Algorithm 1's map.

``fadaeinejad_cae`` resizes every image to ``work_size`` pixels (a multiple of 32; the
paper's 256 by default), optionally augments the training images as the paper does
(rotations, flips, noise: :func:`adlib.models.fadaeinejad.augment`, to ``augment_to``
images), trains the CAE of their Tables 1–2 with the L2 loss, and maps each test image by
Algorithm 1: the maximum over the colour channels of |x − x̂|, resized back to the input's
resolution. The paper thresholds pixels and defines no image score, so the image score is
:func:`adlib.detectors.smoothed_max` of the map.
"""

from __future__ import annotations

import torch

from adlib.detectors import register
from adlib.detectors.base import PIXEL_AE, Detector, Prediction, as_images, smoothed_max
from adlib.models import fadaeinejad as model
from adlib.patches import resize


@register
class FadaeinejadCAE(Detector):
    name = "fadaeinejad_cae"
    label = "CAE (Fadaeinejad)"
    family = PIXEL_AE
    # lr 5e-3: the chapter's quick-profile choice, made on held-out normals (adlib.health); at the
    # default 1e-3 the CAE was healthy on no quick benchmark set, at 5e-3 on objects and ELPV
    benchmark_settings = {"work_size": "{size}", "lr": 5e-3}
    description = ("Fadaeinejad's whole-image convolutional autoencoder (Tables 1–2); map: channel-max "
                   "|x − x̂| (Algorithm 1)")
    paper = "fadaeinejad2021"
    score_rule = "smoothed_max of the map (the paper scores pixels only and defines no image score)"
    defaults = {"work_size": model.PAPER_INPUT_SIZE, "latent": model.PAPER_LATENT, "lr": 1e-3,
                "augment_to": None, "noise_std": 0.02}
    iterations = 1000
    batch_size = 32
    quick_check = {"work_size": 32, "latent": 8}

    def _check_hyperparameters(self) -> None:
        if not isinstance(self.work_size, int) or self.work_size < 32 or self.work_size % 32:
            raise ValueError(f"{self.name}: work_size={self.work_size!r} must be a multiple of 32 (the CAE "
                             f"halves the image five times; the paper uses 256)")
        if not isinstance(self.latent, int) or self.latent < 1:
            raise ValueError(f"{self.name}: latent={self.latent!r} must be a positive integer (paper: 500)")
        if not self.lr > 0:
            raise ValueError(f"{self.name}: lr={self.lr!r} must be positive")
        if self.augment_to is not None and (not isinstance(self.augment_to, int) or self.augment_to < 1):
            raise ValueError(f"{self.name}: augment_to={self.augment_to!r} is the number of training images "
                             f"after augmentation (None: no augmentation)")
        if not 0 <= self.noise_std <= 1:
            raise ValueError(f"{self.name}: noise_std={self.noise_std!r} must lie in [0, 1]")

    def _fit(self, x, *, iterations, batch_size, progress, callback, callback_every):
        train = resize(x, self.work_size)
        if self.augment_to is not None:      # the originals are kept; never fewer images than given
            train = model.augment(train, max(self.augment_to, len(train)), seed=self.seed,
                                  noise_std=self.noise_std)
        self.training_images = len(train)
        self.network = model.CAE(self.work_size, self.channels, self.latent)
        self.history = self._train(self.network, train, iterations=iterations, batch_size=batch_size,
                                   progress=progress, callback=callback, callback_every=callback_every,
                                   lr=self.lr)

    def _predict(self, x):
        maps = self.residual_maps(x)
        return Prediction(smoothed_max(maps), maps.numpy())

    def _model_inputs(self, x):
        return resize(x, self.work_size)

    def _reconstruct_inputs(self, inputs):
        return self.network.reconstruct(inputs)

    # -- what the chapter uses --------------------------------------------------------------------
    @torch.no_grad()
    def reconstruct(self, images) -> torch.Tensor:
        """(N, C, H, W) reconstructions at the input's resolution, on the CPU."""
        x = as_images(images, self.channels)
        return resize(self._network().reconstruct(resize(x, self.work_size)), tuple(x.shape[-2:])).clamp(0, 1)

    @torch.no_grad()
    def residual_maps(self, images) -> torch.Tensor:
        """(N, H, W) Algorithm 1's map, max over channels of |x − x̂| at ``work_size``, resized back
        to the input's resolution (the same as ``predict(images).maps``)."""
        x = as_images(images, self.channels)
        small = resize(x, self.work_size)
        residual = self._network().residual_map(small)[:, None]
        return resize(residual, tuple(x.shape[-2:]))[:, 0].clamp(0, 1)

    @property
    def parameter_count(self) -> int:
        """Trainable parameters of the fitted CAE, or of the one these hyperparameters build."""
        network = self.__dict__.get("network")
        if network is None:
            network = model.CAE(self.work_size, self.channels, self.latent)
        return model.count_parameters(network)

    def _network(self) -> model.CAE:
        if not self._fitted:
            raise RuntimeError(f"{self.name}: call fit(train_images) first")
        return self.network
