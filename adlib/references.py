"""Outside reference numbers on MVTec AD, and the table that puts them beside ours.

The numbers are anomalib's own runs, copied from its model READMEs
(``src/anomalib/models/image/<model>/README.md``, openvinotoolkit/anomalib commit 161bb36,
2025-04; one run each, seed 42), as listed in the study's ``REFERENCE_NUMBERS.md``. They are
single runs: a difference of a point or two to them is within seed noise. A category missing
here has no outside number in this study (e.g. magnetic tile is not an MVTec AD category).
"""

from __future__ import annotations

import math

import pandas as pd

from adlib import health

SOURCE = "anomalib README, commit 161bb36, one run (seed 42)"
MEAN = "mean of 15"              # anomalib's mean over the 15 MVTec AD categories

# {model: {category: (image AUROC, pixel AUROC or None)}}
ANOMALIB: dict[str, dict[str, tuple[float, float | None]]] = {
    "PatchCore (Wide ResNet-50)": {"bottle": (1.000, 0.984), MEAN: (0.980, 0.980)},
    "PatchCore (ResNet-18)": {"bottle": (1.000, 0.981), MEAN: (0.973, 0.976)},
    "PaDiM (Wide ResNet-50)": {"bottle": (0.999, 0.985), MEAN: (0.950, 0.979)},
    "PaDiM (ResNet-18)": {"bottle": (0.994, 0.983), MEAN: (0.891, 0.968)},
    "GANomaly": {"bottle": (0.251, None), MEAN: (0.421, None)},
}

FIELD_COLUMNS = ("image_auroc", "image_ap", "f1_max", "pixel_auroc", "aupro")
COLUMN_NAMES = {"image_auroc": "image AUROC", "image_ap": "image AP", "f1_max": "F1-max",
                "pixel_auroc": "pixel AUROC", "aupro": "AUPRO"}


QUOTED = "quoted: " + SOURCE      # the source column of anomalib's rows: not measured on our data
MEASURED = "measured here"       # the source of a row of the field's methods run on this run's data


def outside_rows(category: str) -> list[dict]:
    """anomalib's rows for ``category`` (empty when it has none), in the field-record layout."""
    return [{"method": model, "source": QUOTED, "image_auroc": by[category][0], "pixel_auroc": by[category][1]}
            for model, by in ANOMALIB.items() if category in by]


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def comparison_table(records: list[dict], category: str, source: str = "this run") -> pd.DataFrame:
    """Our MVTec records of ``category`` (dicts with ``method``, the :data:`FIELD_COLUMNS` and,
    where the paper printed one, ``published``: its image AUROC on this category, 0–1), then
    anomalib's quoted rows for it. A record's own ``source`` (e.g. :data:`MEASURED` for the
    field's methods run here) overrides ``source``.

    Our rows get ``Δ vs paper`` (ours − paper); quoted rows get ``our best − this``: the best
    image AUROC among the rows of ``source`` whose model is usable (healthy or untrained; a
    model that did not learn backs no comparison) minus theirs (negative: the reference is
    better), and ``measured − quoted``: our measured row of the same method (PatchCore, PaDiM)
    minus the quoted one, what our backbone, resolution and split change."""
    ours = [r for r in records if r.get("category") == category]
    usable = [_number(r.get("image_auroc")) for r in ours
              if r.get("source", source) == source and r.get("health", "not recorded") in health.USABLE]
    best = max((v for v in usable if v is not None), default=None)
    rows = []
    for r in ours:
        paper = _number(r.get("published"))
        value = _number(r.get("image_auroc"))
        rows.append({"method": r["method"], "source": r.get("source", source), "health": r.get("health", "–"),
                     **{c: _number(r.get(c)) for c in FIELD_COLUMNS},
                     "paper": paper, "Δ vs paper": None if paper is None or value is None else value - paper,
                     "our best − this": None, "measured − quoted": None})
    for r in outside_rows(category):
        same = next((_number(o.get("image_auroc")) for o in ours if o.get("source") == MEASURED
                     and o["method"].split()[0] == r["method"].split()[0]
                     and o.get("health", "not recorded") in health.USABLE), None)
        rows.append({"method": r["method"], "source": r["source"], "health": "–",
                     **{c: _number(r.get(c)) for c in FIELD_COLUMNS}, "paper": None, "Δ vs paper": None,
                     "our best − this": None if best is None else best - r["image_auroc"],
                     "measured − quoted": None if same is None else same - r["image_auroc"]})
    columns = ["method", "source", "health", *FIELD_COLUMNS, "paper", "Δ vs paper", "our best − this",
               "measured − quoted"]
    table = pd.DataFrame(rows, columns=columns).rename(columns=COLUMN_NAMES)
    return table if table["measured − quoted"].notna().any() else table.drop(columns="measured − quoted")


def styled(table: pd.DataFrame, caption: str):
    """The comparison table for a page: three decimals, signed differences, '–' where none."""
    deltas = [c for c in ("Δ vs paper", "our best − this", "measured − quoted") if c in table]
    values = [c for c in table.columns if c not in ("method", "source", "health", *deltas)]
    return (table.style.hide(axis="index").set_caption(caption)
            .format("{:.3f}", subset=values, na_rep="–").format("{:+.3f}", subset=deltas, na_rep="–"))
