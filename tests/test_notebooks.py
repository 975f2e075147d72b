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
    # the parameters cell is one `name = value` a line (papermill reads it line by line), so its
    # length is the number of parameters, not computation: it is exempt from the cell limit
    computing = [c for c in code if "parameters" not in c.metadata.get("tags", [])]
    return {"code": sum(map(count, code)), "prose": sum(map(count, prose)),
            "longest": max(map(count, computing), default=0), "cells": [count(c) for c in code]}


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_a_chapter_is_mostly_prose_in_short_cells(path):
    counts = line_counts(path)
    share = counts["code"] / (counts["code"] + counts["prose"])
    assert share < 0.5, f"{path.name}: {share:.0%} of the non-blank lines are code; move computation to adlib"
    assert counts["longest"] <= MAX_CELL_LINES, (
        f"{path.name}: a code cell has {counts['longest']} lines (at most {MAX_CELL_LINES}); split it or "
        f"move the work into adlib")


HIDDEN = {"hide-input", "remove-cell", "remove-input"}
PRESENTING = ("display(", "glue(", "glue_figure(", "plt.", "Markdown(", ".style")


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_chapter_shows_code_by_the_same_rule(path):
    """Shown: the experiment's calls into adlib (load, fit, score), as a reader would re-run them.
    Collapsed (hide-input): the cells that present (tables, figures, glued numbers). Removed:
    bookkeeping. So a shown cell never presents, and presenting code is never shown."""
    shown = [c.source for c in jupytext.read(path).cells
             if c.cell_type == "code" and not HIDDEN & set(c.metadata.get("tags", []))]
    for source in shown:
        found = [p for p in PRESENTING if p in source]
        assert not found, (f"{path.name}: a shown code cell presents ({', '.join(found)}); move that part to a "
                           f"cell tagged hide-input:\n{source[:300]}")


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_tables_take_their_number_formats_from_adlib_tables(path):
    """One format per kind of column in every chapter (adlib.tables), not a precision per table."""
    assert "format(precision=" not in path.read_text(), (
        f"{path.name}: a table sets its own precision; use adlib.tables.styled (digits= for a paper's own format)")


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
