"""How the book prints a table: one format per kind of column, the same in every chapter.

    display(tables.styled(frame, caption="…"))             # AUROC, AP, F1, IoU: 3 decimals
    display(tables.styled(frame, percent=True))            # a table of scores in %: 1 decimal

The kind of a column follows from its name (after :data:`HEADERS` renames adlib's raw names):

- an AUROC / AUC column: :func:`adlib.metrics.auroc_text` (three decimals, or one in %; below
  chance labelled inverted). No other metric is labelled inverted: an AP or AUPRO below 0.5 is
  just low.
- a difference (a name starting "Δ"): signed, with a true minus sign.
- a count (integer values, or whole numbers ≥ 2 in a float column): as an integer.
- any other number: :func:`number` (three decimals, tiny values in scientific notation), or one
  decimal with ``percent=True`` (the Zhu and Saeedi tables, whose papers print %), or the
  ``digits`` a paper prints a quantity with (Soukup's bits: 2).

pandas' ``Styler`` does the rendering; this module only picks the formatter per column."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from adlib import metrics

# adlib's result keys → the words a reader sees in a table header
HEADERS = {
    "image_auroc": "image AUROC", "pixel_auroc": "pixel AUROC", "patch_auroc": "patch AUROC",
    "image_ap": "image AP", "patch_ap": "patch AP", "f1_max": "F1-max", "aupro": "AUPRO (FPR ≤ 0.3)",
    "pixel_iou": "pixel IoU", "pixel_A": "pixel A", "f1": "F1",
    "error_ratio": "error ÷ mean image's", "spread_ratio": "output ÷ input spread",
    "tail_drop": "loss drop in last tenth", "spike": "loss spike", "rotation_accuracy": "rotation accuracy",
    "distance_spread": "distance spread", "final_loss": "final loss",
    "train_seconds": "training (s)", "fit_seconds": "fit (s)", "score_ms_per_image": "scoring (ms per image)",
    "f1_validation_tau": "F1 at validation τ", "f1_paper_tau": "F1 at paper's τ",
    "normal_patches": "normal patches", "defective_patches": "defective patches",
    "contrast_kept": "contrast kept",
}


def number(value: Any, digits: int = 3) -> str:
    """A number for a table: ``digits`` decimals, tiny values in scientific notation (a spread of
    8e-08 is not "0.000"), no "-0.000", "–" when missing; integers and text as they are."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if not isinstance(value, float):          # integers (and bools, text) as they are
        return str(value)
    if value != 0 and abs(value) < 0.5 * 10 ** -digits:
        return f"{value:.1e}"
    text = f"{value + 0.0:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def signed(value: Any, digits: int = 3) -> str:
    """A difference: "+0.012" / "−0.034" (true minus sign), "–" when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value + 0.0:+.{digits}f}"
    return "±" + text[1:] if float(text) == 0 else text.replace("-", "−")


def is_auroc(column: Any) -> bool:
    """An AUROC / AUC column (not its confidence interval or its count)."""
    name = str(column)
    return ("AUROC" in name or name.split(" ")[0] == "AUC") and "CI" not in name and "interval" not in name


def _counts(column: Any, values: pd.Series, percent: bool) -> bool:
    """Whole numbers in a float column (a count with a missing cell, a time of 1227 s): print
    them as integers. Not in a table of percentages, where 50.0 is a score, unless the
    column is named as a count ("n …")."""
    finite = values.dropna()
    whole = len(finite) and (finite == finite.round()).all() and finite.abs().max() >= 2
    return bool(whole) and (not percent or str(column).startswith("n "))


def formatter(column: Any, values: pd.Series, *, percent: bool = False, digits: int = 3):
    """The function that prints one column's cells (see the module's rules)."""
    digits = 1 if percent else digits
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return lambda v: "–" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    if str(column).startswith("Δ"):
        return lambda v: signed(v, digits)
    if is_auroc(column):
        return lambda v: metrics.auroc_text(v, percent=percent)
    if pd.api.types.is_integer_dtype(values) or _counts(column, values, percent):
        return lambda v: "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{int(v)}"
    return lambda v: number(v, digits)


def styled(frame: pd.DataFrame, *, caption: str | None = None, percent: bool = False, digits: int = 3,
           index: bool = False):
    """``frame`` as a pandas Styler for a page: :data:`HEADERS` names, one formatter per column,
    no index unless ``index`` (then its labels are printed as they are). ``digits`` is for
    quantities that are neither scores nor % (bits, as Soukup's Table I prints them: 2)."""
    frame = frame.rename(columns=HEADERS).infer_objects()     # a transposed frame of records is all object dtype
    style = frame.style.format({c: formatter(c, frame[c], percent=percent, digits=digits) for c in frame.columns})
    if not index:
        style = style.hide(axis="index")
    return style.set_caption(caption) if caption else style


def markdown(header: list[str], rows: list[list[Any]]) -> str:
    """A table for a generated Markdown page (the data page, the overview): cells as they are
    given, a "|" escaped and a line break flattened so a cell cannot break the table."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |"
              for row in rows]
    return "\n".join(lines)
