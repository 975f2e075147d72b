"""Citations: every key the book cites is in book/references.bib, and the bibliography is clean.

Keys are collected from the chapters (notebooks/*.py), the hand-written pages (book/*.md) and
adlib's sources (some modules generate markdown with citations; a detector's ``paper`` is the
key of the paper it re-implements). A key ending in a year must carry the entry's year, and no
two entries may name the same paper.
"""

import re
from pathlib import Path

import pytest

from conftest import ROOT

pybtex_database = pytest.importorskip("pybtex.database")

BIB = ROOT / "book" / "references.bib"
# {cite}`a`, {cite:t}`a,b`, {cite:p}`a, b`, {cite:ps}`a` ...
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def sources() -> list[Path]:
    return sorted([*(ROOT / "notebooks").glob("*.py"), *(ROOT / "book").glob("*.md"),
                   *(ROOT / "adlib").rglob("*.py")])


def cited_keys(text: str) -> list[str]:
    return [key.strip() for group in CITE.findall(text) for key in group.split(",") if key.strip()]


def entries():
    return pybtex_database.parse_file(str(BIB)).entries


def normalised_title(title: str) -> str:
    title = re.sub(r"\\[a-zA-Z]+|\\.", "", title)           # LaTeX commands and accents
    return re.sub(r"[^a-z0-9]+", " ", title.replace("{", "").replace("}", "").lower()).strip()


def test_the_pattern_reads_every_citation_form():
    text = "see {cite}`a2020` and {cite:t}`b2021, c2019`; {cite:p}`d2018,e2017` {cite:ps}`f`"
    assert cited_keys(text) == ["a2020", "b2021", "c2019", "d2018", "e2017", "f"]


def test_every_cited_key_is_in_the_bibliography():
    known = set(entries())
    missing, found = [], 0
    for path in sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for key in cited_keys(line):
                found += 1
                if key not in known:
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {key}")
    assert found >= 20, f"only {found} citations found: has the cite syntax changed?"
    assert not missing, "keys not in book/references.bib:\n" + "\n".join(missing)


def test_every_detector_names_its_paper_by_a_bibliography_key():
    from adlib import detectors

    known = set(entries())
    wrong = {cls.name: cls.paper for cls in detectors.REGISTRY.values() if cls.paper and cls.paper not in known}
    assert not wrong, f"detectors whose paper is not a key of book/references.bib: {wrong}"


def test_no_two_entries_name_the_same_paper():
    seen: dict[str, str] = {}
    repeated = []
    for key, entry in entries().items():
        title = normalised_title(entry.fields["title"])
        if title in seen:
            repeated.append(f"{seen[title]} and {key}: {entry.fields['title']}")
        seen[title] = key
    assert not repeated, "entries naming the same paper:\n" + "\n".join(repeated)


def test_a_key_ending_in_a_year_carries_the_entry_year():
    wrong = []
    for key, entry in entries().items():
        year = re.search(r"(\d{4})[a-z]*$", key)       # schneider2022, bergmann2019mvtec
        if year and year.group(1) != entry.fields.get("year"):
            wrong.append(f"{key}: year = {entry.fields.get('year')}")
    assert not wrong, "keys whose year is not the entry's:\n" + "\n".join(wrong)
