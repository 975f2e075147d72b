"""Baselines of no paper of the study: the floors every autoencoder should clear.

- ``pca``: the residual after projection on the training images' principal subspace
  (scikit-learn's PCA): a linear autoencoder, the floor the papers omit.
- ``ocsvm``: scikit-learn's RBF one-class SVM on raw pixels (a baseline of Zhu et al.'s Table 1).

Both work on the pixels themselves; images larger than ``work_size`` are first downsized to
it (a 900-pixel RGB image has 2.4 million pixels, more than a PCA of a few hundred images
needs), and maps are upsized back to the input's resolution.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.svm import OneClassSVM

from adlib.detectors import register
from adlib.detectors.base import LINEAR, ONE_CLASS, Detector, Prediction
from adlib.patches import resize


def _downsized(x: torch.Tensor, work_size: int) -> torch.Tensor:
    return resize(x, work_size) if max(x.shape[-2:]) > work_size else x


class _PixelBaseline(Detector):
    takes_steps = False
    time_kind = "baselines"

    def _check_hyperparameters(self) -> None:
        if self.work_size < 4:
            raise ValueError(f"{self.name}: work_size={self.work_size} must be >= 4")

    def _pixels(self, x: torch.Tensor) -> np.ndarray:
        small = _downsized(x, self.work_size)
        if small.shape[-2:] != self._shape:
            raise ValueError(f"{self.name}: test images of {tuple(x.shape[-2:])} pixels work at "
                             f"{tuple(small.shape[-2:])}, the training images at {self._shape}; use one size")
        return small.flatten(1).double().numpy()


@register
class PCAResidual(_PixelBaseline):
    name = "pca"
    label = "PCA residual (baseline)"
    family = LINEAR
    benchmark_settings = {"variance": 0.9}
    description = "PCA residual: squared error after projection on the training images' principal subspace"
    score_rule = "mean squared residual of the image"
    localises = True
    defaults = {"variance": 0.9, "work_size": 64}
    quick_check = {"work_size": 16}

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        if not 0 < self.variance < 1:
            raise ValueError(f"pca: variance={self.variance} is the share of variance kept, in (0, 1)")

    def _fit(self, x, **_):
        small = _downsized(x, self.work_size)
        self._shape = tuple(small.shape[-2:])
        self.pca = PCA(n_components=self.variance, svd_solver="full", random_state=self.seed)
        self.pca.fit(small.flatten(1).double().numpy())

    def _predict(self, x):
        pixels = self._pixels(x)
        residual = (pixels - self.pca.inverse_transform(self.pca.transform(pixels))) ** 2
        c, (h, w) = x.shape[1], self._shape
        maps = torch.from_numpy(residual.reshape(len(x), c, h, w)).float().mean(dim=1, keepdim=True)
        return Prediction(residual.mean(axis=1), resize(maps, tuple(x.shape[-2:]))[:, 0].clamp_min(0).numpy())

    @property
    def components(self) -> int:
        return int(self.pca.n_components_)


@register
class OneClassSVMDetector(_PixelBaseline):
    name = "ocsvm"
    label = "OC-SVM (baseline)"
    family = ONE_CLASS
    benchmark_settings = None  # not benchmarked: Zhu's digit baseline; pca is the benchmark's pixel-space linear one
    description = "One-class SVM (RBF kernel) on raw pixels"
    paper = "scholkopf2001ocsvm"
    score_rule = "minus the SVM's decision function"
    localises = False
    defaults = {"nu": 0.1, "gamma": "scale", "work_size": 64}
    quick_check = {"work_size": 16}

    def _fit(self, x, **_):
        small = _downsized(x, self.work_size)
        self._shape = tuple(small.shape[-2:])
        self.svm = OneClassSVM(kernel="rbf", nu=self.nu, gamma=self.gamma).fit(small.flatten(1).double().numpy())

    def _predict(self, x):
        return Prediction(-self.svm.decision_function(self._pixels(x)))
