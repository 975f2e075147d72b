"""The chapters explain and adlib computes: a chapter's code is a minority of its lines and
comes in short cells (the code of a chapter that wires pipelines or words verdicts belongs in
adlib, where unit tests reach it)."""

from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("*.py"))
MAX_CELL_LINES = 30


def line_counts(path: Path) -> dict:
    notebook = jupytext.read(path)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    prose = [c for c in notebook.cells if c.cell_type == "markdown"]
    count = lambda cell: sum(1 for line in cell.source.splitlines() if line.strip())  # noqa: E731
    return {"code": sum(map(count, code)), "prose": sum(map(count, prose)),
            "longest": max(map(count, code), default=0), "cells": [count(c) for c in code]}


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_a_chapter_is_mostly_prose_in_short_cells(path):
    counts = line_counts(path)
    share = counts["code"] / (counts["code"] + counts["prose"])
    assert share < 0.5, f"{path.name}: {share:.0%} of the non-blank lines are code; move computation to adlib"
    assert counts["longest"] <= MAX_CELL_LINES, (
        f"{path.name}: a code cell has {counts['longest']} lines (at most {MAX_CELL_LINES}); split it or "
        f"move the work into adlib")


if __name__ == "__main__":          # python tests/test_notebooks.py: the table for the notes
    total = {"code": 0, "prose": 0}
    for path in CHAPTERS:
        c = line_counts(path)
        total["code"] += c["code"]
        total["prose"] += c["prose"]
        print(f"{path.stem:28s} code {c['code']:4d}  prose {c['prose']:4d}  share {c['code'] / (c['code'] + c['prose']):.0%}"
              f"  longest cell {c['longest']}")
    print(f"{'all':28s} code {total['code']:4d}  prose {total['prose']:4d}  "
          f"share {total['code'] / (total['code'] + total['prose']):.0%}")
