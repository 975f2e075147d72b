"""The `paper`-profile runs kept with the code in ``results/paper/`` (run on a GPU, committed):
shown beside a quick build's numbers, in a chapter (:func:`kept_beside`) and in the overview
(:func:`kept_section`), each marked stale when the code changed after the run's commit
(:func:`stale`, a ``git diff``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from adlib import tables

KEPT_PAPER = Path(__file__).resolve().parent.parent / "results" / "paper"


def health_count(results: dict) -> str:
    """"5 of 7" trained models healthy (untrained baselines not counted), or "not recorded"."""
    records = results.get("health")
    if records is None:
        return "not recorded"
    trained = [r for r in records if r.get("status") != "not trained"]
    healthy = sum(r.get("status") == "healthy" for r in trained)
    return f"{healthy} of {len(trained)}" if trained else "no trained model"


def stale(commit: str, chapter: str, root: Path) -> str:
    """Why a kept run may no longer match the code: "" when adlib/, the chapter and its paper
    parameters are unchanged since the run's commit."""
    if commit.endswith("+dirty"):
        return "run from uncommitted changes"
    paths = ["adlib", f"notebooks/{chapter}.py", f"notebooks/params/paper/{chapter}.yaml"]
    try:
        changed = subprocess.run(["git", "diff", "--name-only", commit, "HEAD", "--", *paths], cwd=root,
                                 capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return f"commit {commit[:10]} not found in this checkout"
    return f"**stale**: {len(changed)} file(s) changed since ({', '.join(changed[:3])}{', …' if len(changed) > 3 else ''})" \
        if changed else ""


def kept_section(kept: Path) -> list[str]:
    """The paper-profile runs kept in ``results/paper/`` (run on a GPU, committed): provenance,
    a stale mark, and each chapter's published-vs-ours rows."""
    parts = ["## The paper profile (kept runs)"]
    runs = sorted(kept.glob("*.results.json"))
    if not runs:
        parts.append("*No paper-profile run is kept in `results/paper/` yet: that profile needs a GPU "
                     "(`make book PROFILE=paper` there writes one `results.json` per chapter into "
                     "`results/paper/`, to be committed). Every number on this page is from this build's "
                     "profile.*")
        return parts
    parts.append("Runs of the `paper` profile kept with the code (`results/paper/`), with where and when "
                 "they ran. A run is marked stale when `adlib/`, its chapter or its parameters changed after "
                 "its commit: its numbers then describe older code.")
    rows, headlines = [], []
    for path in runs:
        chapter, results = path.name.removesuffix(".results.json"), json.loads(path.read_text())
        prov = results.get("provenance", {})
        commit = str(prov.get("git_commit", ""))
        rows.append([f"{{doc}}`{chapter}`", prov.get("device_name", prov.get("device")),
                     f"torch {prov.get('torch_version')}, CUDA {prov.get('cuda_version')}",
                     f"{prov.get('wall_seconds', float('nan')):.0f} s", health_count(results), commit[:10],
                     str(prov.get("finished_at", ""))[:10], stale(commit, chapter, kept.parent.parent) or "current"])
        headlines += [[f"{{doc}}`{chapter}`", h.get("what"), tables.number(h.get("published")),
                       tables.number(h.get("ours"))] for h in results.get("headline") or []]
    parts.append(tables.markdown(["chapter", "device", "versions", "wall time", "healthy models", "commit",
                                  "date", "code since"], rows))
    if headlines:
        parts.append(tables.markdown(["chapter", "", "published", "ours (paper profile)"], headlines))
    return parts


def kept_beside(chapter: str, headline: list[dict], profile: str, kept: Path = KEPT_PAPER) -> str:
    """Markdown for a chapter: this build's headline numbers beside the published ones and
    beside the chapter's kept paper-profile run (``results/paper/``), with that run's provenance
    and a stale mark, or a line saying there is none."""
    path = kept / f"{chapter}.results.json"
    if profile == "paper":
        return ("*This page is a `paper`-profile run; `make book PROFILE=paper` keeps its results.json in "
                "`results/paper/` for the quick builds to show.*")
    if not path.exists():
        return (f"*No `paper`-profile run of this chapter is kept in `results/paper/` yet (that profile needs "
                f"a GPU). Every number on this page is from the `{profile}` profile, on this build's machine.*")
    results = json.loads(path.read_text())
    prov = results.get("provenance", {})
    commit = str(prov.get("git_commit", ""))
    since = stale(commit, chapter, kept.parent.parent)
    theirs = {h.get("what"): h.get("ours") for h in results.get("headline") or []}
    rows = [[h.get("what"), tables.number(h.get("published")), tables.number(h.get("ours")),
             tables.number(theirs.get(h.get("what"), "–"))] for h in headline]
    rows += [[what, "–", "–", tables.number(value)] for what, value in theirs.items()
             if what not in {h.get("what") for h in headline}]
    where = (f"The `paper` profile ran on {prov.get('device_name', prov.get('device'))} (torch "
             f"{prov.get('torch_version')}, CUDA {prov.get('cuda_version')}) at commit `{commit[:10]}` on "
             f"{str(prov.get('finished_at', ''))[:10]}, in {prov.get('wall_seconds', float('nan')):.0f} s, "
             f"with {health_count(results)} healthy models. "
             + (f"{since}: its numbers describe older code." if since else "The code has not changed since."))
    return "\n\n".join([where, tables.markdown(["", "published", f"ours ({profile})", "ours (paper profile)"], rows)])
