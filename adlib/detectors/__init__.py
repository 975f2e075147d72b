"""Every method of the study behind one interface (:class:`base.Detector`).

    from adlib import detectors
    detector = detectors.get("fadaeinejad_cae", channels=3, image_size=256, seed=0)
    detector.fit(train_images, iterations=1000)
    prediction = detector.predict(test_images)     # .scores (N,), .maps (N, H, W), .extra
    detectors.names()                               # name, description, paper of each

The chapters and the cross-paper benchmark both build their methods here, so a method is
wired once. One module per paper holds its detectors (the networks stay in
:mod:`adlib.models`); ``baselines`` holds the methods of no paper of the study.
"""

from __future__ import annotations

import importlib
import pkgutil

from adlib.detectors.base import Detector, Prediction, as_images, smoothed_max

REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: make a detector available to :func:`get` under ``cls.name``."""
    if not cls.name or cls.name in REGISTRY:
        raise ValueError(f"detector name {cls.name!r} is empty or taken")
    REGISTRY[cls.name] = cls
    return cls


def get(name: str, *, channels: int = 1, image_size: int = 64, seed: int = 0, **hyperparameters) -> Detector:
    """A new, unfitted detector; ``seed`` fixes everything random in ``fit``, weights included."""
    if name not in REGISTRY:
        raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name](channels=channels, image_size=image_size, seed=seed, **hyperparameters)


def names() -> list[dict[str, str]]:
    """One row per detector: name, description, paper, image score, whether it localises."""
    return [{"name": cls.name, "label": cls.label, "description": cls.description, "paper": cls.paper or "–",
             "image score": cls.score_rule, "maps": "yes" if cls.localises else "no",
             "trained": "yes" if cls.takes_steps else "no"} for cls in REGISTRY.values()]


# Each module of this package registers its detectors when imported.
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["Detector", "Prediction", "REGISTRY", "as_images", "get", "names", "register", "smoothed_max"]
