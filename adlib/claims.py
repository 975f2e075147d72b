"""The verdict table's rows: each paper's claims as small statistical decisions, made the same
way everywhere.

A row says what data the claim is about (the paper's) and what it was judged on, which models
its evidence rests on and their health, our number with an interval (and how the interval was
made), and a status decided by :func:`judge` in this order:

1. **untested**: the paper's data exist for this study (MNIST, MVTec AD categories) but this
   build judged the claim on other data or a subset; whatever the subset gave, the row says
   what would test it. Where the paper's data are not public (its own photographs), a stand-in
   is judged, and the row says so.
2. **inconclusive**: a model behind the evidence did not learn (:mod:`adlib.health`), or every
   side of a comparison failed its task (e.g. all far below the paper's localisation).
3. **holds** / **does not hold**: the interval clears the claim's margin on one side;
   **not established**: it straddles the margin (or no interval could be made).
   **partly**: a claim made of parts, some of which hold and others do not.

Δ against the published number is given only when we judged the paper's own data.
Each paper module has ``claims(...)``, called by its chapter and stored in results.json
under ``claims``; :func:`markdown` shows them in the chapter, :mod:`adlib.overview` gathers them into the
overview's verdict table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from adlib import tables

STATUSES = ("holds", "partly", "does not hold", "not established", "inconclusive", "untested")
DECIDED = ("holds", "does not hold", "not established")
CONFIDENCE = 0.95              # every interval of a verdict: 95 %, two-sided
BOOTSTRAP_RESAMPLES = 2000     # measured: the 2.5 % bound of an AUROC gap (50 + 50 images) moves by sd 0.0035 between bootstrap seeds
REAL_PROFILE = "make book PROFILE=real ADLIB_DATA=../shared/data"
MIN_SEEDS = 3                  # a comparison is decided on at least this many seeds (run-to-run spread)


@dataclass(frozen=True)
class Data:
    """What a claim is about and what this build judged it on."""

    about: str                      # the paper's data, e.g. "MNIST, all 10 classes"
    judged_on: str                  # ours, e.g. "mnist_subset, classes 0, 1, 2"
    same_as_paper: bool             # judged on the paper's own data (then a Δ means something)
    available: bool = True          # the paper's data exist for this study (else a stand-in is judged)
    to_test: str = REAL_PROFILE     # what would judge it on the paper's data

    def record(self) -> dict[str, Any]:
        return {"about": self.about, "judged_on": self.judged_on, "same_data_as_paper": self.same_as_paper,
                "paper_data_available": self.available}


def decide(interval: tuple[float, float] | None, margin: float, above: bool = True) -> str:
    """holds / does not hold / not established for "the quantity is above ``margin``" (or below,
    with ``above=False``): holds when the whole interval is on the claim's side of the margin,
    does not hold when the whole interval is on the other side."""
    if interval is None or not all(math.isfinite(v) for v in interval):
        return "not established"
    low, high = interval
    if not above:
        low, high, margin = -high, -low, -margin
    return "holds" if low > margin else "does not hold" if high <= margin else "not established"


def combine(statuses: Iterable[str]) -> str:
    """One status for a claim made of parts (each decided by :func:`decide`)."""
    statuses = list(statuses)
    if not statuses:
        return "not established"
    if "not established" in statuses:
        return "not established"
    if all(s == "holds" for s in statuses):
        return "holds"
    if all(s == "does not hold" for s in statuses):
        return "does not hold"
    return "partly"


def decide_parts(intervals: dict, margin: float, above: bool = True) -> tuple[str, Any]:
    """(status, the part to show) for a claim made of parts, each with its interval: the status
    by :func:`combine`, and of the parts that decide it (for *partly*, one that does not hold)
    the one whose interval is centred nearest the margin, so the row's number agrees with it."""
    statuses = {key: decide(iv, margin, above) for key, iv in intervals.items()}
    status = combine(statuses.values())
    wanted = "does not hold" if status == "partly" else status
    candidates = [k for k, s in statuses.items() if s == wanted] or list(intervals)
    shown = min(candidates, key=lambda k: abs(np.mean(intervals[k]) - margin) if intervals[k] else math.inf)
    return status, shown


def resamples(n: int, strata: np.ndarray | None = None, count: int = BOOTSTRAP_RESAMPLES,
              seed: int = 0) -> np.ndarray:
    """(count, n) bootstrap indices of ``n`` paired items (the same test images for both sides of
    a comparison), drawn within each of ``strata`` (e.g. normal / anomalous, so every resample
    keeps both classes)."""
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if strata is None else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    return np.concatenate([g[rng.integers(0, len(g), (count, len(g)))] for g in groups], axis=1)


def percentile_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The central ``confidence`` share of the finite bootstrap ``values``; None when there are none."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    low, high = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def paired_interval(statistic: Callable[[np.ndarray], float], n: int, confidence: float = CONFIDENCE,
                    count: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                    strata: np.ndarray | None = None) -> tuple[float, float] | None:
    """Percentile interval of ``statistic(indices)`` over :func:`resamples` of ``n`` paired items."""
    return percentile_interval([statistic(idx) for idx in resamples(n, strata, count, seed)], confidence)


def judge(text: str, data: Data, *, status: str | None = None, models: Mapping[str, Any] | None = None,
          ours: Any = None, interval: tuple[float, float] | None = None, interval_method: str = "",
          no_interval: str = "", published: Any = None, unit: str = "", note: str = "",
          failed_task: str | None = None, seeds: int | None = None, no_models: str = "") -> dict[str, Any]:
    """One verdict row. ``status`` is what the numbers decide (:func:`decide` / :func:`combine`);
    the data and health gates above it are applied here, the same for every paper. ``seeds``:
    how many training seeds a comparison of trained models rests on, when its interval covers
    only the test images: with fewer than :data:`MIN_SEEDS` the run-to-run spread is unknown
    and nothing is established. ``no_models``: why no model's health bears on the row (e.g. a
    timing of the architecture), required when ``models`` is empty."""
    from adlib.health import USABLE

    if not models and not no_models:
        raise ValueError(f"claim {text!r}: name the models its evidence rests on, or say why none applies")

    models = {name: getattr(h, "status", h) for name, h in (models or {}).items()}   # Health or its status
    unusable = [f"{name} {s}" for name, s in models.items() if s not in USABLE]
    if data.available and not data.same_as_paper:
        final, why = "untested", (f"judged on {data.judged_on}, not the paper's {data.about}; "
                                  f"`{data.to_test}` tests it")
        if unusable:
            why += f"; models not usable: {', '.join(unusable)}"
    elif unusable or failed_task:
        final = "inconclusive"
        why = f"not every model learnt: {'; '.join(unusable)}" if unusable else failed_task
        if status is not None and interval is not None:      # what the numbers alone say, for the record
            why += f" (the interval alone would have said {status})"
    else:
        final = status if status is not None else "not established"
        why = "" if final != "not established" or interval is not None else (no_interval or "no interval")
        if seeds is not None and seeds < MIN_SEEDS and final in ("holds", "does not hold", "partly"):
            final, why = "not established", (f"{seeds} training seed(s), fewer than {MIN_SEEDS}: run-to-run "
                                             f"spread unknown, not established at this budget (the interval "
                                             f"would have said {status})")
    if not data.available:
        why = "; ".join(filter(None, [why, f"judged on {data.judged_on}, a stand-in for {data.about}"]))
    if final not in STATUSES:
        raise ValueError(f"claim status {final!r} is not one of {STATUSES}")
    if interval is None and not no_interval and final in DECIDED:
        raise ValueError(f"claim {text!r}: a decided status needs an interval or a reason why there is none")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                  for v in (ours, published))
    return {"claim": text, "status": final, "ours": ours, "published": published,
            "interval": None if interval is None else [float(interval[0]), float(interval[1])],
            "interval_method": interval_method if interval is not None else "",
            "no_interval": "" if interval is not None else (no_interval or "not computed"),
            # a Δ between different data means nothing: only on the paper's own data
            "delta": float(ours) - float(published) if numbers and data.same_as_paper else None,
            "unit": unit, "note": "; ".join(filter(None, [why, note])),
            "models": [{"model": name, "health": s} for name, s in models.items()],
            "no_models": "" if models else no_models, **data.record()}


def _value(value: Any, unit: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = f"{value:.1f}" if ("%" in unit or "points" in unit) else f"{value:.3f}"
        return text.replace("-", "−")
    return "–" if value is None else str(value)


# a status as a verb phrase, for one claim and for several: "1 partly holds, 2 are inconclusive"
_STATUS_PHRASES = {"holds": ("holds", "hold"), "partly": ("partly holds", "partly hold"),
                   "does not hold": ("does not hold", "do not hold"),
                   "not established": ("is not established", "are not established"),
                   "inconclusive": ("is inconclusive", "are inconclusive"), "untested": ("is untested", "are untested")}


def status_counts(rows: list[dict]) -> str:
    """"1 partly holds, 2 are inconclusive": how many claims have each status, in :data:`STATUSES` order."""
    return ", ".join(f"{n} {_STATUS_PHRASES[status][n != 1]}" for status in STATUSES
                     if (n := sum(r["status"] == status for r in rows)))


COLUMNS = ["status", "ours [95 % interval]", "published", "Δ"]


def cells(r: dict) -> list[str]:
    """A claim's status, our number with its interval, the published one and Δ (only on the paper's data)."""
    unit = r["unit"]
    ours = _value(r["ours"], unit) + (f" {unit}" if unit and isinstance(r["ours"], (int, float)) else "")
    if r.get("interval"):
        ours += f" [{_value(r['interval'][0], unit)}, {_value(r['interval'][1], unit)}]"
    delta = "–" if r.get("delta") is None else ("+" if r["delta"] >= 0 else "−") + _value(abs(r["delta"]), unit)
    return [f"**{r['status']}**", ours, _value(r["published"], unit), delta]


def markdown(rows: list[dict]) -> str:
    """A chapter's claims as the overview's verdict table shows them, each with its note in the
    row: the chapter and the overview say the same thing."""
    return tables.markdown(["claim", *COLUMNS, "why, and on what"],
                           [[r["claim"], *cells(r), row_note(r) or "–"] for r in rows])


def row_note(row: dict) -> str:
    """What a reader needs beside a row: its note (the data it was judged on, the gates' reasons,
    :func:`judge`) and the interval's method or why there is none."""
    interval = (f"interval: {row['interval_method']}" if row.get("interval") else
                f"no interval: {row['no_interval']}" if row.get("no_interval") else "")
    return "; ".join(p for p in (row.get("note"), interval) if p)
