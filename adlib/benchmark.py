"""The cross-paper benchmark: every detector on every dataset under one protocol.

This module holds the datasets, the protocol and the run loop; the methods are the
detectors of :mod:`adlib.detectors`, the same objects the chapters use. The protocol (the
chapter ``benchmark_cross_paper`` states it to readers):

- **Data**: every set is grey, ``size``×``size`` pixels, float32 in [0, 1]; training images
  are defect-free; the test split holds normal and defective images, with exact pixel masks
  where the data have them (:func:`embedded_sets`, :func:`folder_sets`).
- **Training budget**: every trained detector gets the same number of optimiser steps
  (``iterations``) at batch size ``batch_size``, from the same seed; each keeps the optimiser
  its paper names. :data:`SETTINGS` lists what each detector is given beyond its defaults.
- **Image score**: each detector's own documented score (``Detector.score_rule``), plus the
  extra scores it reports as methods of their own (``Detector.reported_extras``).
- **Metrics** (:mod:`adlib.metrics`, the MVTec AD / anomalib definitions): image AUROC, AP
  and F1-max; pixel AUROC over every pixel of every test image and AUPRO (up to a
  false-positive rate of 0.3) where there are masks and maps; fit time and scoring time per
  image on the run's device. An extra score shares its model's map, so the map's pixel
  AUROC is reported once, on the model's own row.
- **Health**: a seeded ``HEALTH_FRACTION`` of the training images is held out (never
  trained on) and every trained model is health-checked on it (:mod:`adlib.health`); each
  record carries the model's status.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from adlib import detectors, health, metrics
from adlib.data import elpv, folders, objects, textile, textures


# ----------------------------------------------------------------------------- data

@dataclass
class BenchmarkSet:
    name: str
    stands_for: str                  # what kind of inspection problem it is
    train: np.ndarray                # (N, 1, S, S) defect-free
    test: np.ndarray                 # (M, 1, S, S)
    labels: np.ndarray               # (M,) 0 normal, 1 defective
    masks: np.ndarray | None = None  # (M, S, S) bool, or None when the data have no masks
    source: str = ""

    def __post_init__(self) -> None:
        for what, array in (("train", self.train), ("test", self.test)):
            if array.ndim != 4 or array.shape[1] != 1:
                raise ValueError(f"{self.name}: {what} must be (N, 1, S, S) grey images, got {array.shape}")
        if len(self.test) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.test)} test images but {len(self.labels)} labels")
        if not (0 < self.labels.sum() < len(self.labels)):
            raise ValueError(f"{self.name}: the test split needs normal and defective images")
        if self.masks is not None and self.masks.shape != (len(self.test), *self.test.shape[2:]):
            raise ValueError(f"{self.name}: masks {self.masks.shape} do not match test images {self.test.shape}")


def _crops(image: np.ndarray, size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    ys = rng.integers(0, image.shape[0] - size + 1, n)
    xs = rng.integers(0, image.shape[1] - size + 1, n)
    windows = np.lib.stride_tricks.sliding_window_view(image, (size, size), axis=(0, 1))[ys, xs]
    return np.moveaxis(windows, (-2, -1), (1, 2)).copy()       # (n, size, size, ...) like the image


def texture_set(name: str, size: int, n_train: int, n_test: int, seed: int = 0) -> BenchmarkSet:
    """Crops of a scikit-image texture: top half for training, bottom half for testing, half of
    the test crops with a synthesised scratch, stain or smear."""
    rng = np.random.default_rng(seed)
    image = textures.load_texture(name, 256)
    top, bottom = image[:128], image[128:]
    train = _crops(top, size, n_train, rng)
    test = _crops(bottom, size, 2 * n_test, rng)
    masks = np.zeros(test.shape, bool)
    for i in range(n_test, 2 * n_test):
        test[i], masks[i] = textures.add_defect(test[i], textures.DEFECTS[i % len(textures.DEFECTS)], rng)
    kind = textures.TEXTURES[name]
    return BenchmarkSet(f"{name} ({kind} texture)", f"{kind} surface", train[:, None], test[:, None],
                        np.r_[np.zeros(n_test, int), np.ones(n_test, int)], masks,
                        f"skimage.data.{name}, synthesised defects")


def weave_set(pattern: str, size: int, n_train: int, n_test: int, seed: int = 0) -> BenchmarkSet:
    sets = textile.textile_patch_sets(pattern, patch_size=size, n_train=n_train, n_valid=n_test,
                                      n_defect=n_test, n_select=1, seed=seed)
    test = np.concatenate([sets.valid, sets.defect])
    masks = np.concatenate([np.zeros(sets.valid.shape[:1] + sets.valid.shape[2:], bool), sets.defect_masks])
    return BenchmarkSet(f"{pattern} weave", "textile web", sets.train, test,
                        np.r_[np.zeros(len(sets.valid), int), np.ones(len(sets.defect), int)], masks,
                        f"adlib.data.textile ({pattern}), weaving flaws")


def object_set(size: int, n_train: int, n_test: int, seed: int = 0) -> BenchmarkSet:
    per_defect = max(1, n_test // len(objects.DEFECTS))
    data = objects.hazelnut_like(n_train, per_defect * len(objects.DEFECTS), per_defect, size=size, seed=seed)
    grey = lambda x: x.mean(axis=1, keepdims=True).astype(np.float32)  # noqa: E731
    return BenchmarkSet("hazelnut-like objects", "single object", grey(data.train), grey(data.test),
                        data.labels, data.masks, "adlib.data.objects, crack/cut/hole/print")


def elpv_set(kind: str, size: int, n_train: int, n_test: int) -> BenchmarkSet:
    cell = elpv.load_elpv((kind,), size=size, max_train=n_train, max_test_normal=n_test,
                          max_test_defective=n_test, max_uncertain=0)[kind]
    return BenchmarkSet(f"ELPV {kind} cells", "real solar-cell electroluminescence", cell.train, cell.test,
                        cell.labels, None, "elpv-dataset (PyPI), defect probability 0 vs 1")


EMBEDDED = {
    "brick": lambda s, a, b, seed: texture_set("brick", s, a, b, seed),
    "gravel": lambda s, a, b, seed: texture_set("gravel", s, a, b, seed),
    "plain_weave": lambda s, a, b, seed: weave_set("plain", s, a, b, seed),
    "objects": lambda s, a, b, seed: object_set(s, a, b, seed),
    "elpv_mono": lambda s, a, b, seed: elpv_set("mono", s, a, b),
}


def embedded_sets(names, size: int, n_train: int, n_test: int, seed: int = 0) -> list[BenchmarkSet]:
    """The embedded datasets named (keys of ``EMBEDDED``); ``n_test`` normal + ``n_test`` defective."""
    unknown = [n for n in names if n not in EMBEDDED]
    if unknown:
        raise ValueError(f"unknown benchmark dataset(s) {unknown}; choose from {sorted(EMBEDDED)}")
    return [EMBEDDED[n](size, n_train, n_test, seed) for n in names]


REAL = "real data (MVTec layout)"        # what a folder set stands for


def folder_sets(root: str | Path, size: int, n_train: int, n_test_per_type: int) -> list[BenchmarkSet]:
    """Every MVTec-layout category under ``root``, resized to ``size``, grey. Masks are used
    when every defective image has one (else no pixel AUROC); a category without both normal
    and defective test images is left out with a warning. A ``root`` with no usable category
    is an error (as in every chapter), never a silent run on the embedded sets alone."""
    found = folders.find_mvtec_categories(root)
    if not found:
        raise folders.DataLayoutError(f"data_root {root} holds no MVTec-layout category; expected "
                                      f"{folders.MVTEC_LAYOUT} (or unset ADLIB_DATA to use the embedded sets)")
    out = []
    for folder in found:
        c = folders.load_mvtec_category(folder, size=size, grey=True, max_train=n_train,
                                        max_test_per_type=n_test_per_type, require_masks=False)
        if not 0 < c.labels.sum() < len(c.labels):
            warnings.warn(f"{folder}: the test split needs normal and defective images; "
                          "left out of the benchmark", stacklevel=2)
            continue
        defective = c.masks[c.labels == 1].reshape(int(c.labels.sum()), -1)
        masks = c.masks if defective.any(axis=1).all() else None
        out.append(BenchmarkSet(c.name, REAL, c.train, c.test, c.labels, masks,
                                str(folder)))
    if not out:
        names = ", ".join(p.name for p in found)
        raise folders.DataLayoutError(f"data_root {root}: none of its categories ({names}) has both good and "
                                      "defective test images; add test/good and test/<defect> images "
                                      "(or unset ADLIB_DATA)")
    return out


# ----------------------------------------------------------------------------- methods

# The benchmark's methods: every registered detector that says what it is given here
# (Detector.benchmark_settings), in registry order. Nothing in those settings is tuned on test labels.
SETTINGS: dict[str, dict] = {name: dict(cls.benchmark_settings) for name, cls in detectors.REGISTRY.items()
                             if cls.benchmark_settings is not None}
METHODS = tuple(SETTINGS)

def family(detector: str, method: str) -> str:
    """The family of one reported score (:data:`adlib.detectors.base.FAMILIES`): its detector's, or,
    for an extra score of the detector (``method`` one of its ``reported_extras`` labels), that
    score's own (the latent loss of Soukup's VAE is not a reconstruction error)."""
    cls = detectors.REGISTRY.get(detector)
    if cls is None:              # a record of a detector this version of adlib does not have
        return "unknown"
    extra = next((key for key, label in cls.reported_extras.items() if label == method), None)
    return cls.extra_families.get(extra, cls.family) if extra else cls.family


def method_families(methods=None) -> dict[str, str]:
    """{reported method label: family} of the benchmark's ``methods`` (default: :data:`METHODS`),
    extra scores included."""
    out = {}
    for name in methods or METHODS:
        cls = detectors.REGISTRY[name]
        out[cls.label] = cls.family
        out.update({label: family(name, label) for label in cls.reported_extras.values()})
    return out


def build(name: str, *, image_size: int, seed: int, channels: int = 1) -> detectors.Detector:
    """The detector ``name`` with the protocol's settings for ``image_size``-pixel images."""
    if name not in SETTINGS:
        raise ValueError(f"unknown benchmark method {name!r}; choose from {', '.join(SETTINGS)}")
    settings = {k: (image_size if v == "{size}" else v) for k, v in SETTINGS[name].items()}
    return detectors.get(name, channels=channels, image_size=image_size, seed=seed, **settings)


def check_methods(names) -> list[str]:
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        raise ValueError(f"unknown benchmark method(s) {unknown}; choose from {sorted(SETTINGS)}")
    return list(names)


# ----------------------------------------------------------------------------- the loop

HEALTH_FRACTION = health.HOLD_OUT_FRACTION     # of each training set, held out for the health check

def run_one(name: str, data: BenchmarkSet, *, seed: int, iterations: int, batch_size: int,
            device: torch.device, until_converged: bool = False
            ) -> tuple[list[dict], dict[str, detectors.Prediction], health.Health]:
    """Fit detector ``name`` on ``data`` with ``seed`` (less the held-out normals), check its
    health and score the test split.

    One record per reported score (the detector's own, then its ``reported_extras``), the
    predictions by label (an extra score's prediction carries the detector's maps), and the
    model's :class:`~adlib.health.Health`."""
    detector = build(name, image_size=data.train.shape[-1], seed=seed)
    train, held_out = health.hold_out(data.train, HEALTH_FRACTION, seed=seed)
    detector.fit(train, iterations=iterations, batch_size=batch_size, device=device, progress=False,
                 until_converged=until_converged)
    model_health = detector.health(held_out)
    start = time.perf_counter()
    prediction = detector.predict(data.test)
    score_ms = 1000 * (time.perf_counter() - start) / len(data.test)
    variants = {detector.label: prediction}
    for key, label in detector.reported_extras.items():
        variants[label] = detectors.Prediction(prediction.extra[key], prediction.maps)
    records = []
    for label, pred in variants.items():
        if not np.isfinite(pred.scores).all():
            raise FloatingPointError(f"{label} on {data.name} (seed {seed}) gave non-finite scores: "
                                     "lower the learning rate or check the data")
        image = metrics.image_metrics(pred.scores[data.labels == 0], pred.scores[data.labels == 1])
        own_map = label == detector.label          # extras share the model's map: counted once
        pixel = (metrics.pixel_metrics(pred.maps, data.masks)
                 if own_map and pred.maps is not None and data.masks is not None
                 else {"pixel_auroc": float("nan"), "aupro": float("nan")})
        records.append({"dataset": data.name, "method": label, "detector": name, "paper": detector.paper,
                        "seed": seed, **image, **pixel, "health": model_health.status,
                        "steps": detector.history.iterations if detector.history is not None else None,
                        "fit_seconds": detector.fit_seconds, "score_ms_per_image": score_ms})
    return records, variants, model_health
