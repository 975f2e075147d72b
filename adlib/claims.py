"""The verdict table's rows: one per claim a paper makes, with its status as the chapter
computed it from this run's numbers (the same health gate as the chapter's verdict lines).

Each paper module has ``claims(...)``, called by its chapter and stored in results.json under
``claims``; :mod:`adlib.report` gathers them into the results overview's verdict table.
"""

from __future__ import annotations

import math
from typing import Any

# "partly": part of the claim holds, or it holds with less than the published margin;
# "inconclusive": a model behind the evidence did not learn (adlib.health);
# "untested": this build did not run the data the claim is about.
STATUSES = ("holds", "partly", "does not hold", "inconclusive", "untested")


def claim(text: str, status: str, *, ours: Any = None, published: Any = None, unit: str = "",
          note: str = "") -> dict[str, Any]:
    """One row: ``ours``/``published`` are numbers (then Δ = ours − published) or short texts."""
    if status not in STATUSES:
        raise ValueError(f"claim status {status!r} is not one of {STATUSES}")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                  for v in (ours, published))
    return {"claim": text, "status": status, "ours": ours, "published": published,
            "delta": float(ours) - float(published) if numbers else None, "unit": unit, "note": note}


def ladder(reached: int, of: int) -> str:
    """holds / partly / does not hold for a claim checked ``of`` times and met ``reached`` times."""
    return "holds" if reached == of else "partly" if reached else "does not hold"
