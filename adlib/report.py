"""Book pages generated from the code and the runs, never typed by hand.

    python -m adlib.report data    OUT.md        # the data page, from adlib.data.registry
    python -m adlib.report results GEN OUT.md    # the results overview, from GEN/*.results.json
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from adlib import references
from adlib.data.registry import DATASETS
from adlib.runtime import atomic_write_bytes


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |"
              for row in rows]
    return "\n".join(lines)


def data_page() -> str:
    rows = [[d.name, d.source, d.size, d.licence, d.stands_for, d.split,
             ", ".join(f"{{doc}}`{c} <{c}>`" for c in d.chapters),
             "yes" if d.embedded else "no (`ADLIB_DATA`)"] for d in DATASETS]
    return "\n\n".join([
        "# Data",
        "Every dataset the chapters use. Nothing is downloaded at run time: embedded data come "
        "with installed packages or from generators in `adlib.data`; real data are read from the "
        "folder in `ADLIB_DATA`. This page is generated from `adlib.data.registry`; each "
        "chapter's `results.json` records the exact sizes and checksums of what it used.",
        _table(["dataset", "source", "size", "licence", "stands in for", "split", "chapters",
                "embedded"], rows),
    ]) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _chapter_title(generated: Path, chapter: str) -> str:
    """The executed chapter's first level-1 heading (its page title), else its file name."""
    try:
        cells = json.loads((generated / f"{chapter}.ipynb").read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return chapter
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return chapter


def _verdict_lines(verdict: Any) -> list[str]:
    """A chapter's verdict as bullet lines: a list of lines, one string, or a dict of counts
    that carries its sentences under ``lines`` (else ``summary``)."""
    if isinstance(verdict, dict):
        verdict = verdict.get("lines") or verdict.get("summary")
    if isinstance(verdict, str):
        verdict = [verdict]
    if not verdict:
        return []
    return [v if v.startswith("-") else f"- {v}" for v in verdict]


def _toc_order(generated: Path) -> list[str]:
    """Chapter names in the order of ``_toc.yml`` (two levels above ``generated``), if any."""
    toc = generated.resolve().parent.parent / "_toc.yml"
    if not toc.exists():
        return []
    files = re.findall(r"file:\s*(\S+)", toc.read_text())
    return [Path(f).name for f in files]


def _health_count(results: dict) -> str:
    """"5 of 7" trained models healthy (untrained baselines not counted), or "not recorded"."""
    records = results.get("health")
    if records is None:
        return "not recorded"
    trained = [r for r in records if r.get("status") != "not trained"]
    healthy = sum(r.get("status") == "healthy" for r in trained)
    return f"{healthy} of {len(trained)}" if trained else "no trained model"


# The same detector in a chapter and in the benchmark. Both use the detector objects of
# adlib.detectors, so what separates their numbers is the protocol: the keys below are read
# from each run's recorded parameters, ``also`` says what no parameter shows.
SAME_DETECTOR = [
    {"detector": "saeedi_cpcae", "chapter": "saeedi_cpcae_knn", "value": ("scores", "mono", "Proposed", "auc"),
     "method": "CPCAE + deep-feature k-NN (Saeedi)", "dataset": "ELPV mono cells", "metric": "image_auroc",
     "keys": ("work_size", "iterations", "batch_size", "max_train", "max_test_normal", "max_test_defective",
              "feature_size"),
     "also": "chapter: its own test split of the cells"},
    {"detector": "saeedi_cpcae", "chapter": "saeedi_cpcae_knn", "value": ("scores", "mono", "AE (L2)", "auc"),
     "method": "CPCAE, L2 score (Saeedi's AE baseline)", "dataset": "ELPV mono cells", "metric": "image_auroc",
     "keys": ("work_size", "iterations", "batch_size", "max_train"),
     "also": "the same fitted CPCAE as the row above, scored by its reconstruction error"},
    {"detector": "deep_feature_knn", "chapter": "saeedi_cpcae_knn", "value": ("scores", "mono", "Deep Feature", "auc"),
     "method": "Deep-feature k-NN (baseline)", "dataset": "ELPV mono cells", "metric": "image_auroc",
     "keys": ("feature_size", "k_baseline", "max_train"),
     "also": "not trained: only the images and the feature size differ"},
    {"detector": "fadaeinejad_cae", "chapter": "fadaeinejad_cae_pixels", "value": ("pixel_auroc",),
     "method": "CAE (Fadaeinejad)", "dataset": "hazelnut-like objects", "metric": "pixel_auroc",
     "keys": ("image_size", "iterations", "batch_size", "lr", "n_train", "augmented_size"),
     "also": "chapter: colour images, augmented training set, test images of its own seed; "
             "benchmark: grey images"},
]
BENCHMARK_KEYS = ("image_size", "iterations", "batch_size", "n_train", "n_test")


def _dig(results: dict, path: tuple) -> Any:
    for key in path:
        if not isinstance(results, dict) or key not in results:
            return None
        results = results[key]
    return results


def _params(results: dict, keys) -> str:
    params = results.get("provenance", {}).get("parameters", {})
    return ", ".join(f"{k} {params[k]}" for k in keys if k in params)


def same_detector_rows(loaded: dict[str, dict]) -> list[list[str]]:
    """One row per :data:`SAME_DETECTOR` pair present in this build: the chapter's number, the
    benchmark's (mean over its seeds), their difference and how the protocols differ."""
    bench = loaded.get("benchmark_cross_paper")
    if not bench:
        return []
    rows = []
    for pair in SAME_DETECTOR:
        chapter = loaded.get(pair["chapter"])
        ours = _dig(chapter, pair["value"]) if chapter else None
        found = [r for r in bench.get("records", []) if r.get("method") == pair["method"]
                 and r.get("dataset") == pair["dataset"] and isinstance(r.get(pair["metric"]), (int, float))]
        if not isinstance(ours, (int, float)) or not found:
            continue
        theirs = sum(r[pair["metric"]] for r in found) / len(found)
        status = ", ".join(sorted({str(r.get("health")) for r in found}))
        settings = next((m.get("settings") for m in bench.get("methods", [])
                         if m.get("detector") == pair["detector"]), "")
        protocol = "; ".join(p for p in (_params(bench, BENCHMARK_KEYS), settings) if p)
        rows.append([f"`{pair['detector']}`", pair["metric"].replace("_", " "), pair["dataset"],
                     f"{{doc}}`{pair['chapter']}`", _fmt(float(ours)), _fmt(theirs), f"{theirs - ours:+.3f}",
                     status, _params(chapter, pair["keys"]), protocol, pair["also"]])
    return rows


def _num(value: Any, signed: bool = False) -> str:
    if not isinstance(value, (int, float)) or value != value:     # None, text or NaN
        return "–"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def real_data_section(loaded: list[tuple[str, dict]]) -> list[str]:
    """The chapters' ``mvtec_metrics`` rows per real category, anomalib's rows below them; or a
    plain statement that the build had no real data."""
    found = [(chapter, r) for chapter, results in loaded for r in results.get("mvtec_metrics") or []]
    parts = ["## Real data (MVTec AD layout)"]
    if not found:
        parts.append("**This build had no real data**: no chapter found an MVTec-layout folder "
                     "(`make book PROFILE=real ADLIB_DATA=<folder>` builds the book on every category "
                     "there). Every number above is from embedded or synthetic data.")
        return parts
    parts.append("Every chapter run on an MVTec-layout category of `ADLIB_DATA`, measured with the "
                 "field's definitions ({mod}`adlib.metrics`, as MVTec AD and anomalib: image AUROC, AP "
                 "and F1-max; pixel AUROC over every test pixel and AUPRO up to a false-positive rate of "
                 "0.3 where the method makes a map). *Level* says what is scored: whole images, or "
                 "patches (Soukup's chapter, not comparable with an image AUROC). *paper* is the "
                 "method's own published number on the category (Saeedi & Giusti's Table 4), Δ ours − "
                 "paper. F1-max is never below the F1 of calling every image defective, 2p/(1 + p) with p the "
                 "share of defective test images (0.91 when five in six are defective): values near it show "
                 "no skill. Below each category, anomalib's runs of PatchCore, PaDiM and GANomaly "
                 "({mod}`adlib.references`; single runs, seed 42, not re-run here). Rows from a model "
                 "that is not healthy back no claim.")
    for category in dict.fromkeys(r["category"] for _, r in found):
        rows = []
        for chapter, r in found:
            if r["category"] != category:
                continue
            auroc = r.get("image_auroc", r.get("patch_auroc"))
            paper = r.get("published")
            rows.append([f"{{doc}}`{chapter}`", r["method"], r.get("level", "image"), _num(auroc),
                         _num(r.get("image_ap", r.get("patch_ap"))), _num(r.get("f1_max")),
                         _num(r.get("pixel_auroc")), _num(r.get("aupro")), r.get("health", "–"), _num(paper),
                         _num(auroc - paper if isinstance(paper, (int, float)) and isinstance(auroc, (int, float))
                              else None, signed=True)])
        rows += [["outside reference", o["method"], "image", _num(o["image_auroc"]), "–", "–",
                  _num(o["pixel_auroc"]), "–", "–", "–", "–"] for o in references.outside_rows(category)]
        parts.append(f"### {category}")
        parts.append(_table(["chapter", "method", "level", "AUROC", "AP", "F1-max", "pixel AUROC", "AUPRO",
                             "health", "paper", "Δ vs paper"], rows))
    return parts


def _stale(commit: str, chapter: str, root: Path) -> str:
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
                     f"{prov.get('wall_seconds', float('nan')):.0f} s", _health_count(results), commit[:10],
                     str(prov.get("finished_at", ""))[:10], _stale(commit, chapter, kept.parent.parent) or "current"])
        headlines += [[f"{{doc}}`{chapter}`", h.get("what"), _fmt(h.get("published")), _fmt(h.get("ours"))]
                      for h in results.get("headline") or []]
    parts.append(_table(["chapter", "device", "versions", "wall time", "healthy models", "commit", "date",
                         "code since"], rows))
    if headlines:
        parts.append(_table(["chapter", "", "published", "ours (paper profile)"], headlines))
    return parts


KEPT_PAPER = Path(__file__).resolve().parent.parent / "results" / "paper"


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
    stale = _stale(commit, chapter, kept.parent.parent)
    theirs = {h.get("what"): h.get("ours") for h in results.get("headline") or []}
    rows = [[h.get("what"), _fmt(h.get("published")), _fmt(h.get("ours")), _fmt(theirs.get(h.get("what"), "–"))]
            for h in headline]
    rows += [[what, "–", "–", _fmt(value)] for what, value in theirs.items()
             if what not in {h.get("what") for h in headline}]
    where = (f"The `paper` profile ran on {prov.get('device_name', prov.get('device'))} (torch "
             f"{prov.get('torch_version')}, CUDA {prov.get('cuda_version')}) at commit `{commit[:10]}` on "
             f"{str(prov.get('finished_at', ''))[:10]}, in {prov.get('wall_seconds', float('nan')):.0f} s, "
             f"with {_health_count(results)} healthy models. "
             + (f"{stale}: its numbers describe older code." if stale else "The code has not changed since."))
    return "\n\n".join([where, _table(["", "published", f"ours ({profile})", "ours (paper profile)"], rows)])


def results_page(generated: Path) -> str:
    parts = ["# Results overview",
             "One row per chapter run found in `book/generated/`: its provenance, the paper's main "
             "published numbers beside ours, and the chapter's verdict lines, all taken from the "
             "chapter's `results.json` (this page is generated by `adlib.report`)."]
    order = _toc_order(generated)
    runs = sorted(generated.glob("*.results.json"),        # book order; chapters not in it last
                  key=lambda p: (order.index(n) if (n := p.name.removesuffix(".results.json")) in order
                                 else len(order), p.name))
    if not runs:
        parts.append("*No chapter has been executed yet.*")
    loaded = [(path.name.removesuffix(".results.json"), json.loads(path.read_text())) for path in runs]
    rows = []
    for chapter, results in loaded:
        prov = results.get("provenance", {})
        rows.append([f"{{doc}}`{chapter}`", prov.get("profile"), prov.get("device"),
                     f"{prov.get('wall_seconds', float('nan')):.0f} s", _health_count(results),
                     str(prov.get("git_commit", ""))[:10], str(prov.get("finished_at", ""))[:10]])
    if rows:
        parts.append("*Healthy models*: trained models that passed the health checks of "
                     "{mod}`adlib.health` on held-out normal images (beat the mean image, outputs "
                     "follow inputs, loss converged, no blow-up); a verdict resting on any other model "
                     "is marked inconclusive in its chapter.")
        parts.append(_table(["chapter", "profile", "device", "wall time", "healthy models", "commit", "date"],
                            rows))
    same = same_detector_rows(dict(loaded))
    if same:
        parts.append("## Chapters and the benchmark")
        parts.append("The same detector object of {mod}`adlib.detectors` runs in its chapter and in the "
                     "{doc}`benchmark <benchmark_cross_paper>`; the numbers differ only through the "
                     "protocol (image size, colour, training images and steps, test split; the benchmark "
                     "also holds out a tenth of the training images for the health check). The two "
                     "numbers below are from this build; the benchmark's is its mean over seeds, with "
                     "its model's health.")
        parts.append(_table(["detector", "metric", "dataset", "chapter", "chapter value", "benchmark value",
                             "benchmark − chapter", "benchmark health", "chapter protocol",
                             "benchmark protocol", "also differs"], same))
    if loaded:
        parts += real_data_section(loaded)
        parts += kept_section(generated.resolve().parent.parent / "results" / "paper")
    for chapter, results in loaded:
        parts.append(f"## {_chapter_title(generated, chapter)}")
        parts.append(f"From {{doc}}`the chapter <{chapter}>`.")
        headline = results.get("headline")
        if headline:   # [{"what": ..., "published": ..., "ours": ...}, ...]
            parts.append(_table(["", "published", "ours"],
                                [[h.get("what"), _fmt(h.get("published")), _fmt(h.get("ours"))]
                                 for h in headline]))
        unhealthy = [r for r in results.get("health") or [] if r.get("status") not in ("healthy", "not trained")]
        if unhealthy:
            shown = "; ".join(f"{r.get('model')} on {r.get('dataset')} (seed {r.get('seed')}): {r.get('status')}"
                              for r in unhealthy[:8])
            more = f"; and {len(unhealthy) - 8} more (see the chapter)" if len(unhealthy) > 8 else ""
            parts.append(f"**Not healthy**: {shown}{more}.")
        lines = _verdict_lines(results.get("verdict"))
        parts.append("\n".join(lines) if lines else
                     "*This chapter stores no verdict lines; see the chapter.*")
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["data"] and len(args) == 2:
        atomic_write_bytes(args[1], data_page().encode())
    elif args[:1] == ["results"] and len(args) == 3:
        atomic_write_bytes(args[2], results_page(Path(args[1])).encode())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
