"""Zhu et al. (2021): the two-stage RotNet autoencoder and the deep baselines of their Table 1.

    detector = detectors.get("zhu_two_stage", channels=1, width=8, stem_stride=2, ngf=16)
    detector.fit(images, iterations=150, batch_size=32)      # stage 1 (RotNet), then stage 2
    prediction = detector.predict(test)      # scores MSE − λ·SSIM; extra "mse", "ssim", "rotnet"
    first, second = detector.reconstruct_both(test)           # x̂₁ (MSE decoder), x̂₂ (SSIM decoder)

- ``zhu_two_stage``: a ResNet-18 trained to predict the rotation of normal images (stage 1,
  ``rot_iterations`` SGD steps), then frozen under two DCGAN decoders trained with the MSE
  and with −SSIM (stage 2, ``fit``'s ``iterations``). Score: their eq. 10.
- ``zhu_cae``: the same encoder and decoder trained end to end with the MSE.
- ``zhu_rotnet``: stage 1 alone, scored as Hendrycks et al. do.
- ``deep_svdd``: Ruff et al.'s one-class Deep SVDD (a baseline of their Table 1).

Every network takes 32×32 images: images of at most 32 px are zero-padded (centred; 28-px
MNIST as in the paper), larger ones resized (:func:`adlib.models.zhu.to_input_size`). Maps and
reconstructions come back at the input's resolution (the centre crop, or a resize back).
Scores are computed on the 32-px model input, as in the paper.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from adlib import health
from adlib.detectors import register
from adlib.detectors.base import ONE_CLASS, PIXEL_AE, SELF_SUPERVISED, Detector, Prediction, as_images
from adlib.models import oneclass_baselines, zhu
from adlib.runtime import seed_everything

# the paper's architecture: ResNet-18 (first stage 64 channels, CIFAR-style stride-1 stem) and
# GANomaly's width-64 decoders; the chapter's CPU profiles pass narrower ones
ARCHITECTURE = {"width": 64, "stem_stride": 1}
QUICK = {"width": 4, "stem_stride": 2}


class _ZhuDetector(Detector):
    """Shared by the four detectors: 32-px inputs, and the checks of the common settings."""

    paper = "zhu2021"
    iterations = 1000
    batch_size = 32

    def _check_hyperparameters(self) -> None:
        if "width" in self.hparams and (not isinstance(self.width, int) or self.width < 4 or self.width % 4):
            raise ValueError(f"{self.name}: width={self.width!r} must be a positive multiple of 4 "
                             f"(64 is ResNet-18)")
        if "stem_stride" in self.hparams and self.stem_stride not in (1, 2):
            raise ValueError(f"{self.name}: stem_stride={self.stem_stride!r} must be 1 or 2")
        if "ngf" in self.hparams and (not isinstance(self.ngf, int) or self.ngf < 1):
            raise ValueError(f"{self.name}: ngf={self.ngf!r} must be a positive integer")
        for key in ("lr", "rot_lr"):
            if key in self.hparams and not self.hparams[key] > 0:
                raise ValueError(f"{self.name}: {key}={self.hparams[key]!r} must be positive")
        for key in ("rot_iterations", "rot_batch_size"):
            value = self.hparams.get(key)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{self.name}: {key}={value!r} must be a positive integer, or None for "
                                 f"the same as fit's")

    def _ready(self, images, what: str) -> torch.Tensor:
        if not hasattr(self, "network"):       # set in fit (reconstructions over training too)
            raise RuntimeError(f"{self.name}: call fit(train_images) before {what}")
        return as_images(images, self.channels, "images")

    def _fit_rotnet(self, x32: torch.Tensor, iterations: int, batch_size: int, lr: float,
                    progress: bool) -> zhu.RotNet:
        """Stage 1 (and ``zhu_rotnet``): the encoder trained on rotation prediction, SGD with a
        cosine schedule to 0 over ``iterations`` steps."""
        self.rotnet = zhu.RotNet(self.channels, self.width, self.stem_stride, cosine_steps=iterations)
        self.rotnet_history = self.rotnet.fit(x32, iterations=iterations, batch_size=batch_size, lr=lr,
                                              seed=self.seed, device=self.device, precision=self.precision,
                                              progress=progress,
                                              desc=f"{self.name}: RotNet (seed {self.seed})")
        return self.rotnet

    def _model_inputs(self, x):
        return zhu.to_input_size(x)

    def _reconstruct_inputs(self, inputs):
        # the CAE's reconstruction, the two-stage model's MSE decoder (its forward)
        return self.network.reconstruct(inputs, batch_size=512)

    def _rotnet_health(self, x32: torch.Tensor) -> health.Health:
        return health.assess({**health.loss_checks(self.rotnet_history.series("loss")),
                              **health.rotation_checks(self.rotnet.rotation_accuracy(x32))})

    @staticmethod
    def _residual_maps(x32: torch.Tensor, recon32: torch.Tensor, shape) -> np.ndarray:
        """(N, H, W) squared residual averaged over channels, at the input resolution."""
        residual = ((x32 - recon32) ** 2).mean(dim=1)
        return zhu.from_input_size(residual, shape).clamp_min(0).numpy()


@register
class ZhuTwoStage(_ZhuDetector):
    name = "zhu_two_stage"
    label = "Two-stage RotNet AE (Zhu)"
    family = PIXEL_AE
    # a narrow network for small grey images; lr 2e-3 for the decoders, chosen on held-out normals:
    # at the default 2e-4 they were healthy on no quick benchmark set, at 2e-3 on brick and ELPV
    benchmark_settings = {"width": 8, "stem_stride": 2, "ngf": 16, "lr": 2e-3}
    description = ("Zhu et al.'s frozen RotNet encoder (ResNet-18) with an MSE and a −SSIM decoder; "
                   "map (x − x̂₁)²")
    score_rule = ("MSE(x, x̂₁) − λ·SSIM(x, x̂₂) on the 32-px input (their eq. 10); extra: 'mse', "
                  "'ssim' (= −SSIM, higher = more anomalous) and 'rotnet' (the stage-1 RotNet score)")
    # width / stem_stride: the ResNet-18 encoder; ngf: decoder base width; lam: λ of eq. 10;
    # lr: Adam for the decoders; rot_lr: SGD for stage 1; rot_iterations / rot_batch_size:
    # stage 1's budget (None: fit's iterations / batch_size)
    defaults: ClassVar[dict] = {**ARCHITECTURE, "ngf": 64, "lam": 1.0, "lr": 2e-4, "rot_lr": 0.1,
                                "rot_iterations": None, "rot_batch_size": None}
    quick_check: ClassVar[dict] = {**QUICK, "ngf": 4}
    reported_extras: ClassVar[dict] = {"rotnet": "RotNet (Zhu, stage 1 of the two-stage model)"}
    extra_families: ClassVar[dict] = {"rotnet": SELF_SUPERVISED}

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        if not self.lam >= 0:
            raise ValueError(f"{self.name}: lam={self.lam!r} (λ of MSE − λ·SSIM) must be >= 0")

    def _fit(self, x, *, iterations, batch_size, progress, callback, callback_every):
        x32 = zhu.to_input_size(x)
        rotnet = self._fit_rotnet(x32, self.rot_iterations or iterations, self.rot_batch_size or batch_size,
                                  self.rot_lr, progress)
        seed_everything(self.seed)                 # the decoders' initial weights
        self.network = zhu.TwoStage(rotnet.encoder, ngf=self.ngf, lam=self.lam)
        self.history = self._train(self.network, x32, iterations=iterations, batch_size=batch_size,
                                   progress=progress, callback=callback, callback_every=callback_every,
                                   lr=self.lr)

    def _predict(self, x):
        x32 = zhu.to_input_size(x)
        first, second = self.network.reconstruct_both(x32)
        mse = ((x32 - first) ** 2).flatten(1).mean(1)
        negative_ssim = -zhu.ssim_per_image(second, x32)
        return Prediction((mse + self.lam * negative_ssim).numpy(),
                          self._residual_maps(x32, first, x.shape[-2:]),
                          {"mse": mse.numpy(), "ssim": negative_ssim.numpy(),
                           "rotnet": self.rotnet.score(x32).numpy()})

    def _health(self, x):
        x32 = zhu.to_input_size(x)
        first, second = self.network.reconstruct_both(x32)
        losses = health.loss_checks(self.history.series("loss"))
        # each decoder judged in its own loss: the MSE, and 1 − SSIM for the SSIM decoder
        decoders = [health.assess({**losses, **health.reconstruction_checks(x32, out, self.train_mean, error),
                                   **health.detail_checks(x32, out, self.train_mean)})
                    for out, error in ((first, None), (second, lambda a, b: 1 - zhu.ssim_per_image(a, b)))]
        return health.Health.combine(self._rotnet_health(x32), *decoders,
                                     prefixes=["rotnet_", "mse_decoder_", "ssim_decoder_"])

    @torch.no_grad()
    def reconstruct_both(self, images) -> tuple[torch.Tensor, torch.Tensor]:
        """(x̂₁, x̂₂): the MSE and the SSIM decoder's reconstructions (N, C, H, W) at the
        input's resolution, on the CPU."""
        x = self._ready(images, "reconstruct_both")
        first, second = self.network.reconstruct_both(zhu.to_input_size(x))
        return zhu.from_input_size(first, x.shape[-2:]), zhu.from_input_size(second, x.shape[-2:])

    def reconstruct(self, images) -> torch.Tensor:
        """x̂₁, the MSE decoder's reconstruction (the one the maps are made of)."""
        return self.reconstruct_both(images)[0]


@register
class ZhuCAE(_ZhuDetector):
    name = "zhu_cae"
    label = "CAE (Zhu)"
    family = PIXEL_AE
    benchmark_settings = None  # not benchmarked: Zhu's digit CAE; Schneider's CAE is the plain one
    description = ("Zhu et al.'s CAE baseline: their encoder and decoder trained end to end with the MSE; "
                   "map (x − x̂)²")
    score_rule = "MSE(x, x̂) on the 32-px input"
    defaults: ClassVar[dict] = {**ARCHITECTURE, "ngf": 64, "lr": 2e-4}
    quick_check: ClassVar[dict] = {**QUICK, "ngf": 4}

    def _fit(self, x, *, iterations, batch_size, progress, callback, callback_every):
        self.network = zhu.CAE(self.channels, self.width, self.stem_stride, self.ngf)
        self.history = self._train(self.network, zhu.to_input_size(x), iterations=iterations,
                                   batch_size=batch_size, progress=progress, callback=callback,
                                   callback_every=callback_every, lr=self.lr)

    def _predict(self, x):
        x32 = zhu.to_input_size(x)
        recon = self.network.reconstruct(x32, batch_size=512)
        return Prediction(((x32 - recon) ** 2).flatten(1).mean(1).numpy(),
                          self._residual_maps(x32, recon, x.shape[-2:]))

    @torch.no_grad()
    def reconstruct(self, images) -> torch.Tensor:
        """(N, C, H, W) reconstructions at the input's resolution, on the CPU."""
        x = self._ready(images, "reconstruct")
        return zhu.from_input_size(self.network.reconstruct(zhu.to_input_size(x), batch_size=512),
                                   x.shape[-2:])


@register
class ZhuRotNet(_ZhuDetector):
    name = "zhu_rotnet"
    label = "RotNet (Zhu)"
    family = SELF_SUPERVISED
    benchmark_settings = None  # benchmarked as zhu_two_stage's extra score (stage 1)
    description = "RotNet: a ResNet-18 trained to predict the rotation (0/90/180/270°) of normal images"
    score_rule = ("minus the summed softmax probability of the true rotation over the four rotations "
                  "(Hendrycks et al.)")
    localises = False
    # lr: SGD (Nesterov momentum 0.9, cosine schedule to 0), 0.1 as in the paper
    defaults: ClassVar[dict] = {**ARCHITECTURE, "lr": 0.1}
    quick_check: ClassVar[dict] = dict(QUICK)

    def _fit(self, x, *, iterations, batch_size, progress, callback, callback_every):
        self._fit_rotnet(zhu.to_input_size(x), iterations, batch_size, self.lr, progress)
        self.network, self.history = self.rotnet, self.rotnet_history

    def _predict(self, x):
        return Prediction(self.rotnet.score(zhu.to_input_size(x)).numpy())

    def _health(self, x):
        return self._rotnet_health(zhu.to_input_size(x))


@register
class DeepSVDD(_ZhuDetector):
    name = "deep_svdd"
    label = "Deep SVDD"
    family = ONE_CLASS
    benchmark_settings = None  # not benchmarked: Zhu's one-class baseline for digit classes
    description = ("One-class Deep SVDD: a bias-free LeNet whose outputs are pulled to a centre "
                   "(no autoencoder pre-training)")
    paper = "ruff2018deepsvdd"
    score_rule = "squared distance of the network's output to the centre c"
    localises = False
    # lr / weight_decay: Adam; eps: centre coordinates closer to 0 are pushed to ±eps
    defaults: ClassVar[dict] = {"lr": 1e-4, "weight_decay": 5e-7, "eps": 0.1}

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        if not self.weight_decay >= 0 or not self.eps > 0:
            raise ValueError(f"{self.name}: weight_decay={self.weight_decay!r} must be >= 0 and "
                             f"eps={self.eps!r} > 0")

    def _fit(self, x, *, iterations, batch_size, progress, callback, callback_every):
        self.network = oneclass_baselines.DeepSVDD(self.channels, size=zhu.INPUT_SIZE,
                                                   weight_decay=self.weight_decay, eps=self.eps)
        self.history = self._train(self.network, zhu.to_input_size(x), iterations=iterations,
                                   batch_size=batch_size, progress=progress, callback=callback,
                                   callback_every=callback_every, lr=self.lr)

    def _predict(self, x):
        return Prediction(self.network.score(zhu.to_input_size(x)).numpy())

    def _health(self, x):
        return health.assess({**health.loss_checks(self.history.series("loss")),
                              **health.distance_checks(self.network.score(zhu.to_input_size(x)).numpy())})
