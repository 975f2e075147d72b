"""Did the model learn? Health checks for every trained detector, on held-out *normal* images.

    train, held_out = health.hold_out(normal_images, fraction=0.1, seed=0)
    detector.fit(train, iterations=...)
    report = detector.health(held_out)      # Health(status="healthy", checks={...}, reasons=[...])

No test label is ever used. The checks, and the thresholds below, are:

- **beats the mean image** (reconstruction models): the held-out reconstruction MSE divided
  by that of the trivial predictor that outputs the mean training input (image, patch or
  tile, in the model's own input space). Above ``ERROR_RATIO_MAX`` the model has not learnt
  more than the average: *under-trained*.
- **outputs follow inputs**: the spread of the outputs across held-out inputs (root mean
  per-pixel variance) divided by the spread of the inputs. Below ``SPREAD_MIN`` the model
  draws nearly the same output whatever it is shown: *collapsed*.
- **keeps the detail** (image reconstructions): the error of the reconstructions' edges and
  texture (a difference of Gaussians, σ = 1 and 3 pixels) divided by that of the mean training
  input. Above ``DETAIL_RATIO_MAX`` the model draws a blurred average shape (or a wrong
  texture), however low its overall error: *under-trained*.
- **converged**: the drop of the smoothed training loss over the last tenth of training,
  as a share of its whole drop. Above ``TAIL_DROP_MAX`` the loss is still falling:
  *under-trained*. A loss that fell by less than ``LOSS_DROP_MIN`` of its starting value
  (``relative_drop``) never really fell: *under-trained* too.
- **did not diverge**: the largest rise of the smoothed loss above its best value so far
  (after the first tenth), and the gap between its end and its best, both as shares of the
  whole drop (of the starting value when the loss barely fell: shares of a noise-sized drop
  mean nothing). Above ``SPIKE_MAX`` / ``END_GAP_MAX``: *diverged*. (A NaN or infinite loss
  already stops training with :class:`adlib.training.DivergedError`.)
- non-reconstruction models get what fits them: RotNet the rotation accuracy on held-out
  normal images (chance is 0.25; below ``ROTATION_ACCURACY_MIN`` *under-trained*, at chance
  *collapsed*); Deep SVDD the spread of held-out centre distances (coefficient of variation
  below ``SVDD_SPREAD_MIN``: the hypersphere *collapsed*).
- detectors without training (k-NN, PCA, the pixel baselines) are ``"not trained"``: nothing
  can have failed to learn, and their numbers stand.

The status is the worst finding: diverged > collapsed > under-trained > healthy.
"""

from __future__ import annotations


from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd
import torch

from adlib import tables

ERROR_RATIO_MAX = 0.8         # must beat the mean-image predictor by at least 20 %
SPREAD_MIN = 0.25             # outputs must vary at least a quarter as much as the inputs
# must restore at least a third of the detail the mean image misses; calibrated by eye on the quick
# benchmark's models (64 px, 480 steps): blurred discs and wrong brick or cell grids 0.73–1.74,
# models whose outputs follow their inputs' edges 0.11–0.55 (see detail_checks)
DETAIL_RATIO_MAX = 2 / 3
TAIL_DROP_MAX = 0.05          # the last tenth of training may improve the loss by at most 5 % of its drop
SPIKE_MAX = 0.5               # a rise above the best loss so far by half the whole drop is a blow-up
END_GAP_MAX = 0.5             # ending half the whole drop above the best loss is a blow-up
LOSS_DROP_MIN = 0.05          # a loss must fall by at least 5 % of its starting value
ROTATION_ACCURACY_MIN = 0.5   # twice chance (0.25)
ROTATION_CHANCE_MARGIN = 0.05
SVDD_SPREAD_MIN = 0.05

STATUSES = ("healthy", "not trained", "under-trained", "collapsed", "diverged")
USABLE = ("healthy", "not trained")
_SEVERITY = {"healthy": 0, "not trained": 0, "under-trained": 1, "collapsed": 2, "diverged": 3}


@dataclass
class Health:
    """A model's health: ``status`` (one of :data:`STATUSES`), the numbers behind it and, for
    every failed check, one sentence saying what failed."""

    status: str
    checks: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """True when a verdict may rest on this model."""
        return self.status in USABLE

    def summary(self) -> str:
        """One line for a table or a verdict: the status, and why when it is not usable."""
        return self.status if self.usable else f"{self.status} ({'; '.join(self.reasons)})"

    def record(self, **keys) -> dict[str, Any]:
        """The results.json form: ``{**keys, "status", "checks", "reasons"}``."""
        return {**keys, "status": self.status, "checks": _plain(self.checks), "reasons": list(self.reasons)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Health":
        """The health a :meth:`record` was made from (a check JSON stored as None is NaN again)."""
        checks = {k: float("nan") if v is None else v for k, v in record["checks"].items()}
        return cls(record["status"], checks, list(record["reasons"]))

    @classmethod
    def combine(cls, *parts: "Health", prefixes: Iterable[str] | None = None) -> "Health":
        """One health for a model made of several networks: the worst status, all checks
        (keys prefixed by part), all reasons."""
        prefixes = list(prefixes) if prefixes is not None else [""] * len(parts)
        checks, reasons = {}, []
        for prefix, part in zip(prefixes, parts):
            checks.update({f"{prefix}{k}": v for k, v in part.checks.items()})
            reasons += [f"{prefix.rstrip('_ ')}: {r}" if prefix else r for r in part.reasons]
        return cls(worst(p.status for p in parts), checks, reasons)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None                       # JSON has no NaN
    return value


def _judge(checks: dict[str, Any], findings: list[tuple[str, str]]) -> Health:
    """Health from checks and (status, reason) findings; no finding → healthy."""
    if not findings:
        return Health("healthy", checks)
    worst = max((s for s, _ in findings), key=_SEVERITY.__getitem__)
    return Health(worst, checks, [reason for _, reason in findings])


# -- the checks ------------------------------------------------------------------------------------
def _double(t) -> torch.Tensor:
    """A NumPy array or tensor as a float64 CPU tensor."""
    return torch.as_tensor(np.asarray(t) if not isinstance(t, torch.Tensor) else t).detach().double().cpu()


def _flat(t) -> torch.Tensor:
    return _double(t).flatten(1)


def reconstruction_checks(inputs, outputs, train_mean, error=None) -> dict[str, float]:
    """``error_ratio`` (error of the outputs / error of the mean training input) and
    ``spread_ratio`` (spread of the outputs / spread of the inputs) on held-out normal inputs
    (N, ...). ``error(outputs, inputs)`` is the model's own training loss per image (default:
    the MSE), so that a decoder trained on, say, SSIM is judged in SSIM."""
    x, y = _flat(inputs), _flat(outputs)
    if x.shape != y.shape or len(x) < 2:
        raise ValueError(f"health: need at least 2 held-out inputs and outputs of the same shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    mean = _double(train_mean).reshape(1, -1)
    if error is None:
        model_mse = float(((y - x) ** 2).mean())
        mean_mse = float(((mean - x) ** 2).mean())
    else:
        shaped = torch.as_tensor(np.asarray(inputs) if not isinstance(inputs, torch.Tensor) else inputs).float().cpu()
        as_input = lambda t: t.reshape(shaped.shape).float()      # noqa: E731
        model_mse = float(error(as_input(y), shaped).double().mean())
        mean_mse = float(error(as_input(mean.expand(len(x), -1)), shaped).double().mean())
    input_spread = float(x.var(dim=0).mean().sqrt())
    output_spread = float(y.var(dim=0).mean().sqrt())
    return {"mse": model_mse, "mean_image_mse": mean_mse,
            "error_ratio": model_mse / mean_mse if mean_mse > 0 else float("inf"),
            "spread_ratio": output_spread / input_spread if input_spread > 0 else float("nan")}


def _detail(images: torch.Tensor) -> torch.Tensor:
    """The mid-frequency detail of (N, C, H, W) images, edges and texture at a few pixels' scale:
    a difference of Gaussians (σ = 1 minus σ = 3 pixels; torchvision's gaussian_blur, reflect
    padding). A finer high-pass (σ = 1 alone) was tried first: it counts an edge shifted by one
    pixel worse than no edge, and 8 of 9 quick-benchmark models failed it, a sharp one included."""
    from torchvision.transforms.functional import gaussian_blur

    return gaussian_blur(images, [5, 5], [1.0, 1.0]) - gaussian_blur(images, [13, 13], [3.0, 3.0])


def detail_checks(inputs, outputs, train_mean) -> dict[str, float]:
    """``detail_ratio``: the squared error of the reconstructions' detail (:func:`_detail`) over
    that of the mean training input, on held-out normal images (N, C, H, W). A model that draws a
    blurred average shape whatever it is shown, or a wrong texture, scores near or above 1 (it
    restores no more detail than the mean image), one that restores edges and texture well
    below it. Inputs that are not images of at least 16×16 pixels give no check ({})."""
    x = _double(inputs)
    if x.ndim != 4 or min(x.shape[-2:]) < 16:
        return {}
    y = _double(outputs).reshape(x.shape)
    mean = _double(train_mean).reshape(1, *x.shape[1:]).expand_as(x)
    detail = _detail(x)
    model_error = float(((_detail(y) - detail) ** 2).mean())
    mean_error = float(((_detail(mean) - detail) ** 2).mean())
    return {"detail_ratio": model_error / mean_error if mean_error > 0 else float("nan")}


def loss_checks(losses: Iterable[float]) -> dict[str, float]:
    """``tail_drop``, ``spike`` and ``end_gap`` of a training-loss series (shares of its whole
    drop, after a running median over 5 % of the steps; rises are shares of the starting value
    when the loss fell by less than ``LOSS_DROP_MIN`` of it), ``drop`` and ``relative_drop``."""
    loss = np.asarray(list(losses), dtype=np.float64)
    if len(loss) < 20:
        return {"steps": len(loss)}
    window = max(5, len(loss) // 20)
    smooth = np.median(np.lib.stride_tricks.sliding_window_view(loss, window), axis=1)
    tenth = max(1, len(smooth) // 10)
    start = float(np.median(loss[:tenth]))
    drop = start - float(smooth.min())
    relative_drop = drop / abs(start) if start != 0 else float("inf")
    best_so_far = np.minimum.accumulate(smooth)
    rise = (smooth - best_so_far)[tenth:]
    scale = drop if drop > 0 else float("nan")
    rise_scale = scale if relative_drop >= LOSS_DROP_MIN else abs(start) or float("nan")
    return {"steps": len(loss), "drop": drop, "relative_drop": relative_drop,
            "tail_drop": float(smooth[-2 * tenth:-tenth].mean() - smooth[-tenth:].mean()) / scale,
            "spike": float(rise.max() if len(rise) else 0.0) / rise_scale,
            "end_gap": float(smooth[-1] - smooth.min()) / rise_scale}


def rotation_checks(accuracy: float) -> dict[str, float]:
    return {"rotation_accuracy": float(accuracy)}


def distance_checks(distances) -> dict[str, float]:
    d = np.asarray(distances, dtype=np.float64)
    mean = float(d.mean())
    return {"mean_distance": mean, "distance_spread": float(d.std() / mean) if mean > 0 else 0.0}


def assess(checks: dict[str, Any]) -> Health:
    """The status the checks (any of the above, merged) give, with a reason per failure."""
    findings: list[tuple[str, str]] = []
    c = checks
    if c.get("spike", 0) > SPIKE_MAX or c.get("end_gap", 0) > END_GAP_MAX:
        findings.append(("diverged", f"training loss blew up (rise {c['spike']:.2f}, end {c['end_gap']:.2f} "
                                     f"of its drop above its best; limit {SPIKE_MAX})"))
    if "drop" in c and not c["drop"] > 0:
        findings.append(("under-trained", "training loss never fell"))
    elif c.get("relative_drop", 1.0) < LOSS_DROP_MIN:
        findings.append(("under-trained", f"training loss barely fell ({c['relative_drop']:.1%} of its start; "
                                          f"limit {LOSS_DROP_MIN:.0%})"))
    elif c.get("tail_drop", 0) > TAIL_DROP_MAX:
        findings.append(("under-trained", f"loss still falling ({c['tail_drop']:.0%} of its drop in the last "
                                          f"tenth; limit {TAIL_DROP_MAX:.0%})"))
    if "spread_ratio" in c and not c["spread_ratio"] >= SPREAD_MIN:
        findings.append(("collapsed", f"outputs barely follow inputs (spread {c['spread_ratio']:.0%} of the "
                                      f"inputs'; limit {SPREAD_MIN:.0%})"))
    if "detail_ratio" in c and not c["detail_ratio"] <= DETAIL_RATIO_MAX:
        findings.append(("under-trained", f"reconstructions lose the input's detail (edge and texture error "
                                          f"{c['detail_ratio']:.2f}× the mean image's; limit {DETAIL_RATIO_MAX:.2f})"))
    if "error_ratio" in c and not c["error_ratio"] <= ERROR_RATIO_MAX:
        findings.append(("under-trained", f"does not beat the mean image clearly (error {c['error_ratio']:.2f}× "
                                          f"the mean image's; limit {ERROR_RATIO_MAX})"))
    if "rotation_accuracy" in c:
        accuracy = c["rotation_accuracy"]
        if accuracy < 0.25 + ROTATION_CHANCE_MARGIN:
            findings.append(("collapsed", f"rotation accuracy {accuracy:.2f} is chance (0.25)"))
        elif accuracy < ROTATION_ACCURACY_MIN:
            findings.append(("under-trained", f"rotation accuracy {accuracy:.2f} < {ROTATION_ACCURACY_MIN}"))
    if "distance_spread" in c and not c["distance_spread"] >= SVDD_SPREAD_MIN:
        findings.append(("collapsed", f"centre distances all alike (spread {c['distance_spread']:.3f}; limit "
                                      f"{SVDD_SPREAD_MIN})"))
    return _judge(checks, findings)


NOT_TRAINED = Health("not trained")


def worst(statuses: Iterable[str]) -> str:
    """The most severe of several statuses (e.g. one model's over seeds)."""
    return max(statuses, key=_SEVERITY.__getitem__)


# -- held-out normals, tables and verdicts ------------------------------------------------------------
HOLD_OUT_FRACTION = 0.1       # share of the normal training images kept for the health check
HOLD_OUT_MINIMUM = 4          # and never fewer than this


def hold_out(images, fraction: float = HOLD_OUT_FRACTION, seed: int = 0, minimum: int = HOLD_OUT_MINIMUM):
    """(train, held_out): a seeded random ``fraction`` of normal images (at least ``minimum``,
    and at least one left to train on) kept out of training for the health check."""
    n = len(images)
    if n < minimum + 1:
        raise ValueError(f"health.hold_out: {n} normal images cannot spare {minimum} for the health "
                         f"check; give at least {minimum + 1}")
    count = min(max(minimum, int(round(fraction * n))), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    held, kept = np.sort(order[:count]), np.sort(order[count:])
    return images[kept], images[held]


COLUMNS = ["dataset", "model", "seed", "status", "error_ratio", "spread_ratio", "detail_ratio", "tail_drop", "spike",
           "rotation_accuracy", "distance_spread", "reasons"]


# for a model of several networks (checks prefixed per part), the table shows the worst part
_WORST_OF = {"error_ratio": max, "spread_ratio": min, "detail_ratio": max, "tail_drop": max, "spike": max,
             "rotation_accuracy": min, "distance_spread": min}


def _table_checks(checks: dict[str, Any]) -> dict[str, Any]:
    out = dict(checks)
    for key, pick in _WORST_OF.items():
        parts = [v for k, v in checks.items() if k.endswith("_" + key) and v is not None]
        if key not in out and parts:
            out[key] = pick(parts)
    return out


def table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """A health table (one row per record of :meth:`Health.record`), the check columns that
    occur, in a fixed order (for a model of several networks, its worst part's value)."""
    rows = [{**{k: v for k, v in r.items() if k not in ("checks", "reasons")}, **_table_checks(r.get("checks", {})),
             "reasons": "; ".join(r.get("reasons", []))} for r in records]
    frame = pd.DataFrame(rows)
    keep = [c for c in COLUMNS if c in frame.columns and frame[c].notna().any()]
    return frame[keep]


def styled_table(records: list[dict[str, Any]]):
    """:func:`table` for a chapter: :func:`adlib.tables.styled` (reader's column names, tiny
    values as 8.0e-08 rather than 0.000, no "-0.000"), no index."""
    return tables.styled(table(records))


def inconclusive(healths: dict[str, Health]) -> str | None:
    """None when every model a claim rests on is usable; otherwise the verdict text
    ``"inconclusive (model X collapsed: …)"``."""
    bad = [f"{name} {h.status}" for name, h in healths.items() if not h.usable]
    return f"inconclusive ({'; '.join(bad)})" if bad else None
