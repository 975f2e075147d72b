"""The one interface every method of the study shares: a detector.

    detector = detectors.get("schneider_cae", channels=3, image_size=256, seed=0)
    detector.fit(train_images, iterations=2000, device="cuda")
    prediction = detector.predict(test_images)
    prediction.scores        # (N,) image scores, higher = more anomalous
    prediction.maps          # (N, H, W) anomaly maps at the input's resolution (None: no maps)
    prediction.extra         # other named (N,) scores of the same fitted model

Images are (N, C, H, W) floats in [0, 1] (NumPy or torch), any number of channels, any size:
each detector patches, resizes or pads inside, as its paper does. The seed given to ``get``
fixes everything random in ``fit``, the initial weights included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from adlib import health as health_checks
from adlib import precision as precisions
from adlib import training
from adlib.runtime import seed_everything, timed


@dataclass
class Prediction:
    """What ``Detector.predict`` returns, on the CPU as NumPy arrays."""

    scores: np.ndarray                                   # (N,) float64, higher = more anomalous
    maps: np.ndarray | None = None                       # (N, H, W) float32 at the input resolution
    extra: dict[str, np.ndarray] = field(default_factory=dict)   # other (N,) float64 scores

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if self.maps is not None:
            self.maps = np.asarray(self.maps, dtype=np.float32)
        self.extra = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in self.extra.items()}


def as_images(images, channels: int | None = None, what: str = "images") -> torch.Tensor:
    """(N, C, H, W) float32 CPU tensor in [0, 1], or a ValueError that says what to fix."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if x.ndim != 4:
        raise ValueError(f"{what} must be a batch (N, C, H, W), got shape {tuple(x.shape)}; add the "
                         f"channel axis for grey images (x[:, None])")
    if len(x) == 0:
        raise ValueError(f"{what} are empty (N = 0)")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{what} have {x.shape[1]} channel(s) but the detector was built for {channels}; "
                         f"pass channels={x.shape[1]} to detectors.get")
    if not x.is_floating_point():
        raise ValueError(f"{what} have dtype {x.dtype}; convert them to floats in [0, 1] (e.g. x / 255)")
    x = x.detach().to("cpu", torch.float32)
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    low, high = float(x.min()), float(x.max())
    if low < -1e-4 or high > 1 + 1e-4:
        raise ValueError(f"{what} must lie in [0, 1], got values in [{low:.3g}, {high:.3g}]; scale them "
                         f"(e.g. x / 255 for 8-bit images)")
    return x.clamp_(0, 1)


def smoothed_max(maps: np.ndarray | torch.Tensor, window: int = 5) -> np.ndarray:
    """(N,) the maximum of each (N, H, W) map after a ``window``×``window`` mean filter, so a single
    noisy pixel cannot decide: the image score of detectors whose paper defines none."""
    maps = torch.as_tensor(np.asarray(maps, dtype=np.float32))[:, None]
    window = max(1, min(window, maps.shape[-1], maps.shape[-2]))
    smoothed = F.avg_pool2d(maps, window, stride=1, padding=window // 2, count_include_pad=False)
    return smoothed.flatten(1).amax(dim=1).numpy().astype(np.float64)


# The kinds of method the study compares (Detector.family): the benchmark, the overview and the
# verdicts group by these, never by words in a method's label.
PIXEL_AE = "pixel-space autoencoder"             # reconstructs the image; scores the pixel residual
FEATURE_AE = "feature-space autoencoder"         # reconstructs pretrained CNN features (DFR, RD4AD)
HYBRID_AE = "autoencoder + pretrained features"  # a pixel autoencoder's residual scored in CNN features
AE_LATENT = "autoencoder latent code"            # scores the code, not the reconstruction
MEMORY_BANK = "memory bank / k-NN"               # distance to stored normal features (PatchCore, k-NN)
DENSITY = "density"                              # a fitted distribution of normal features (PaDiM)
ONE_CLASS = "one-class boundary"                 # a learnt boundary or hypersphere (OC-SVM, Deep SVDD)
SELF_SUPERVISED = "self-supervised"              # a pretext task's confidence (RotNet)
LINEAR = "linear"                                # PCA residual
PIXEL_BASELINE = "pixel baseline"                # per-pixel statistics or pixel-space nearest neighbour
FAMILIES = (PIXEL_AE, FEATURE_AE, HYBRID_AE, AE_LATENT, MEMORY_BANK, DENSITY, ONE_CLASS, SELF_SUPERVISED, LINEAR,
            PIXEL_BASELINE)


class Detector:
    """Base class. A subclass sets the class attributes below and implements ``_fit`` and
    ``_predict``; ``defaults`` lists every hyperparameter it accepts, with its default.

    ``fit`` and ``predict`` check the images (shape, channels, range) and seed everything;
    after ``fit``: ``history`` (the training loss of the main network, or None),
    ``fit_seconds`` and ``device``.
    """

    name: ClassVar[str] = ""             # registry key, e.g. "schneider_cae"
    label: ClassVar[str] = ""            # name in tables and figures, e.g. "CAE (Schneider)"
    description: ClassVar[str] = ""      # one line for detectors.names()
    paper: ClassVar[str] = ""            # bibliography key; "" for baselines of our own
    family: ClassVar[str] = ""           # the kind of method, one of FAMILIES: the benchmark groups by it
    score_rule: ClassVar[str] = ""       # one line: what ``Prediction.scores`` is
    # True: fit runs an optimiser (iterations, batch size, until_converged apply) and health checks
    # what it learnt; False: fit only stores, embeds or decomposes the training set (PatchCore's
    # memory bank, PCA): nothing learnt can fail, its health is "not trained"
    takes_steps: ClassVar[bool] = True
    # where fit and predict count in a chapter's time breakdown: "training" (with "scoring"), or
    # "baselines" for the methods a chapter runs beside its paper's
    time_kind: ClassVar[str] = "training"
    localises: ClassVar[bool] = True     # False: ``Prediction.maps`` is None
    defaults: ClassVar[dict[str, Any]] = {}
    # extra scores the benchmark reports as methods of their own: {extra key: label}, and the
    # family of each (an extra score may be another kind of method than its detector's)
    reported_extras: ClassVar[dict[str, str]] = {}
    extra_families: ClassVar[dict[str, str]] = {}
    # what the cross-paper benchmark gives this detector beyond its defaults, on its small grey
    # images ("{size}" is replaced by the run's image size); None: not one of the benchmark's
    # methods (say why beside it). adlib.benchmark.METHODS is every detector that sets it.
    benchmark_settings: ClassVar[dict[str, Any] | None] = None
    iterations: ClassVar[int] = 1000     # default optimiser steps of ``fit``
    batch_size: ClassVar[int] = 32
    # hyperparameters under which ``fit`` on a handful of small images takes about a second
    # (the conformance test and the smoke profile use them)
    quick_check: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # hyperparameters are read as attributes (__getattr__), which a class attribute of the same
        # name would silently shadow (``iterations``, ``label``...): refuse such a name at once
        shadowed = sorted(key for key in cls.defaults if hasattr(cls, key))
        if shadowed:
            raise TypeError(f"{cls.__name__}: hyperparameter(s) {shadowed} share a name with a class attribute "
                            "or method, which would hide them; rename them")

    def __init__(self, channels: int = 1, image_size: int = 64, seed: int = 0, **hyperparameters):
        unknown = sorted(set(hyperparameters) - set(self.defaults))
        if unknown:
            valid = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items()) or "none"
            raise ValueError(f"{self.name}: unknown hyperparameter(s) {unknown}; valid (with defaults): {valid}")
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"{self.name}: channels={channels!r} must be a positive integer")
        if not isinstance(image_size, int) or image_size < 8:
            raise ValueError(f"{self.name}: image_size={image_size!r} must be an integer >= 8")
        self.channels, self.image_size, self.seed = channels, image_size, int(seed)
        self.hparams: dict[str, Any] = {**self.defaults, **hyperparameters}
        self.history: training.History | None = None
        self.fit_seconds = 0.0
        self.device = torch.device("cpu")
        self._fitted = False
        self._convergence: training.Convergence | None = None
        self._check_hyperparameters()

    def __getattr__(self, key: str) -> Any:
        # hyperparameters read as attributes (self.patch); only called when normal lookup fails
        hparams = self.__dict__.get("hparams", {})
        if key in hparams:
            return hparams[key]
        raise AttributeError(f"{type(self).__name__} has no attribute {key!r}")

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())
        return f"{type(self).__name__}({self.name!r}, channels={self.channels}, seed={self.seed}, {settings})"

    def _check_hyperparameters(self) -> None:
        """Subclasses raise ValueError here for values out of range."""

    # -- the interface -----------------------------------------------------------------------------
    def fit(self, images, *, iterations: int | None = None, batch_size: int | None = None,
            device: torch.device | str = "cpu", precision: str = "auto", progress: bool | None = None,
            callback: Callable[[int, "Detector"], None] | None = None, callback_every: int = 0,
            until_converged: bool = False) -> "Detector":
        """Train on defect-free ``images`` (N, C, H, W) in [0, 1]; returns ``self``.

        ``until_converged``: ``iterations`` is a cap, and the main network trains until its
        error on a seeded tenth of ``images`` held out from training (its reconstruction error,
        for the models that reconstruct; else its training loss) stops improving, with a
        warm-up and learning-rate cuts on plateaus (:class:`adlib.training.Convergence`).

        ``precision``: "fp32", "bf16" or "auto" (bfloat16 where it was measured faster for the
        network and device, see :mod:`adlib.precision`); ``history.precision`` says which ran.
        Scores and maps are computed in float32 either way.

        ``callback(step, detector)`` runs before the first step and every ``callback_every``
        steps of the main network's training (e.g. to keep reconstructions over training).
        """
        x = as_images(images, self.channels, "training images")
        iterations = self.iterations if iterations is None else int(iterations)
        batch_size = self.batch_size if batch_size is None else int(batch_size)
        if iterations < 1 or batch_size < 1:
            raise ValueError(f"{self.name}: iterations={iterations} and batch_size={batch_size} must be >= 1")
        self.device = torch.device(device)
        self.precision = precisions.check(precision)
        self.train_size = tuple(x.shape[-2:])
        seed_everything(self.seed)                 # the initial weights come from the seed too
        self._convergence = None
        if until_converged and self.takes_steps:   # the monitor's images are kept out of training
            self._convergence, x = self._convergence_rule(x, iterations)
        with timed(self._time_kind("training")):
            start = time.perf_counter()
            self._fit(x, iterations=iterations, batch_size=batch_size,
                      progress=training.show_progress() if progress is None else progress,
                      callback=callback, callback_every=callback_every)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            self.fit_seconds = time.perf_counter() - start
            self._fitted = True
            if self.takes_steps:                       # what the mean-image predictor outputs
                with torch.no_grad():
                    inputs = self._model_inputs(x)
                self.train_mean = None if inputs is None else inputs.mean(dim=0)
        return self

    def _convergence_rule(self, x: torch.Tensor, iterations: int) -> tuple[training.Convergence, torch.Tensor]:
        """Checks every 5 % of the cap (at least 25 steps), patience 3 readings, 1 % improvements,
        two learning-rate cuts, a warm-up of the first 5 %: shares of the cap, not step counts
        chosen for one dataset. The monitor is the held-out reconstruction error when the
        detector reconstructs and there are images to spare (else the training loss). Returns the
        rule and the images left to train on."""
        every = max(25, iterations // 20)
        rule = training.Convergence(every=every, warmup=iterations // 20)
        reconstructs = (self.family in (PIXEL_AE, HYBRID_AE)
                        and type(self)._reconstruct_inputs is not Detector._reconstruct_inputs)
        if len(x) < 2 * health_checks.HOLD_OUT_MINIMUM + 1 or not reconstructs:
            return rule, x
        fit_part, held_out = health_checks.hold_out(x, health_checks.HOLD_OUT_FRACTION, seed=self.seed)
        with torch.no_grad():
            inputs = self._model_inputs(held_out)

        def held_out_error(_network) -> float:
            return float(((self._reconstruct_inputs(inputs) - inputs) ** 2).mean())
        rule.monitor = held_out_error
        return rule, fit_part

    def _time_kind(self, kind: str) -> str:
        """The time-breakdown kind of this detector's work: a baseline's all counts as "baselines"."""
        return self.time_kind if self.time_kind == "baselines" else kind

    @torch.no_grad()
    def health(self, images) -> health_checks.Health:
        """Did the model learn? Checks on held-out *normal* ``images`` (never test images
        with labels) and on the training loss; see :mod:`adlib.health`."""
        if not self._fitted:
            raise RuntimeError(f"{self.name}: call fit(train_images) before health")
        x = as_images(images, self.channels, "held-out normal images")
        if len(x) < 2:
            raise ValueError(f"{self.name}: the health check needs at least 2 held-out normal images, got "
                             f"{len(x)}; see adlib.health.hold_out")
        if not self.takes_steps:
            return health_checks.NOT_TRAINED
        with timed("scoring"):
            return self._health(x)

    @torch.no_grad()
    def predict(self, images) -> Prediction:
        """Scores (and maps, where the method has them) of ``images`` (N, C, H, W) in [0, 1]."""
        if not self._fitted:
            raise RuntimeError(f"{self.name}: call fit(train_images) before predict")
        x = as_images(images, self.channels, "test images")
        with timed(self._time_kind("scoring")):
            prediction = self._predict(x)
        if prediction.scores.shape != (len(x),):
            raise AssertionError(f"{self.name}: {prediction.scores.shape} scores for {len(x)} images")
        if prediction.maps is not None and prediction.maps.shape != (len(x), *x.shape[-2:]):
            raise AssertionError(f"{self.name}: maps {prediction.maps.shape} for images {tuple(x.shape)}")
        return prediction

    # -- what subclasses implement -------------------------------------------------------------------
    def _fit(self, x: torch.Tensor, *, iterations: int, batch_size: int, progress: bool,
             callback, callback_every: int) -> None:
        raise NotImplementedError

    def _predict(self, x: torch.Tensor) -> Prediction:
        raise NotImplementedError

    # reconstruction models implement these two; the others override ``_health``
    def _model_inputs(self, x: torch.Tensor) -> torch.Tensor | None:
        """x as the network sees it (resized images, tiles, patches), or None."""
        return None

    def _reconstruct_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """The network's reconstructions of ``_model_inputs`` (same shape), on the CPU."""
        raise NotImplementedError

    def _health(self, x: torch.Tensor) -> health_checks.Health:
        inputs = self._model_inputs(x)
        if inputs is None:
            raise NotImplementedError(f"{self.name}: no health check (implement _model_inputs or _health)")
        outputs = self._reconstruct_inputs(inputs)
        checks = {**health_checks.reconstruction_checks(inputs, outputs, self.train_mean),
                  **health_checks.detail_checks(inputs, outputs, self.train_mean)}
        return health_checks.assess({**health_checks.loss_checks(self.history.series("loss")), **checks})

    # -- helpers for subclasses ---------------------------------------------------------------------
    def _train(self, network, batches, *, iterations: int, batch_size: int, progress: bool,
               callback=None, callback_every: int = 0, **kwargs) -> training.History:
        """The shared training loop for the main network; the callback gets the detector."""
        hook = (lambda step, _net: callback(step, self)) if callback is not None else None
        return network.fit(batches, iterations=iterations, batch_size=batch_size, seed=self.seed,
                           device=self.device, precision=self.precision, progress=progress,
                           desc=f"{self.name} (seed {self.seed})", callback=hook, callback_every=callback_every,
                           converge=getattr(self, "_convergence", None), **kwargs)
