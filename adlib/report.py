"""Book pages generated from the code and the runs, never typed by hand.

    python -m adlib.report data    OUT.md        # the data page, from adlib.data.registry
    python -m adlib.report results GEN OUT.md    # the results overview, from GEN/*.results.json
    python -m adlib.report answer GEN OUT.md     # the intro's short answer, from the same files
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from adlib import benchmark, health, references
from adlib.claims import STATUSES
from adlib.data.registry import DATASETS
from adlib.detectors import base
from adlib.runtime import atomic_write_bytes


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |"
              for row in rows]
    return "\n".join(lines)


def data_page(samples: dict[str, str] | None = None) -> str:
    """The data page: the registry's table, then ``samples`` ({dataset: image path relative to
    the page}, from :func:`write_samples`)."""
    rows = [[d.name, d.source, d.size, d.licence, d.stands_for, d.split,
             ", ".join(f"{{doc}}`{c} <{c}>`" for c in d.chapters),
             "yes" if d.embedded else "no (`ADLIB_DATA`)"] for d in DATASETS]
    parts = [
        "# Data",
        "Every dataset the chapters use. Nothing is downloaded at run time: embedded data come "
        "with installed packages or from generators in `adlib.data`; real data are read from the "
        "folder in `ADLIB_DATA`. This page is generated from `adlib.data.registry`; each "
        "chapter's `results.json` records the exact sizes and checksums of what it used.",
        _table(["dataset", "source", "size", "licence", "stands in for", "split", "chapters",
                "embedded"], rows)]
    if samples:
        parts += ["## What the images look like",
                  "Normal images, then defective ones with the true defect region outlined in red (the "
                  "benchmark's 128-pixel grey versions; chapters may use other sizes or colour)."]
        parts += [f"![{name}: normal and defective images]({path})" for name, path in samples.items()]
    return "\n\n".join(parts) + "\n"


DEFECT_TITLES = ("normal", "defective")


def sample_sets(data_root: str | None = None, size: int = 128) -> list[tuple]:
    """(name, normal images, defective images, their masks, titles) of every embedded dataset and of
    each MVTec-layout category under ``data_root``: a few images each, for the data page."""
    from adlib.data import oneclass, synthetic

    out = []
    for make in (synthetic.chess, synthetic.noise):
        s = make(n_normal=2, n_anomalous=3, size=size, seed=0)
        out.append((f"{s.name} (synthetic)", s.normal, s.anomalous, s.masks, DEFECT_TITLES))
    sets = benchmark.embedded_sets(list(benchmark.EMBEDDED), size, n_train=2, n_test=6)
    if data_root:
        sets += benchmark.folder_sets(data_root, size, n_train=2, n_test_per_type=1)
    for b in sets:
        defective = np.flatnonzero(b.labels == 1)[:3]
        out.append((b.name, b.train[:2], b.test[defective], None if b.masks is None else b.masks[defective],
                    DEFECT_TITLES))
    digits = oneclass.mnist_subset()
    zeros, others = np.flatnonzero(digits.train_y == 0)[:2], [int(np.flatnonzero(digits.train_y == k)[0]) for k in (1, 2, 3)]
    out.append(("MNIST 5k subset (one class normal in turn, here 0; the other digits anomalous)",
                digits.train_x[zeros], digits.train_x[others], None, ("normal (0)", "anomalous")))
    return out


def write_samples(folder: Path, data_root: str | None = None) -> dict[str, str]:
    """One JPEG per dataset of :func:`sample_sets` into ``folder``; {name: path relative to its parent}."""
    import matplotlib.pyplot as plt

    from adlib import plots

    plots.use_style()
    written = {}
    for name, normal, defective, masks, titles in sample_sets(data_root):
        fig = plots.samples_figure(name, normal, defective, masks, labels=titles)
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        path = folder / f"{slug}.jpg"
        folder.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="jpg", pil_kwargs={"quality": 85}, facecolor="white")
        plt.close(fig)
        written[name] = f"{folder.name}/{path.name}"
    return written


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
                 "no skill. *Source* says what each row is: a chapter's own method (*this run*), the "
                 "field's feature-space methods *measured here* on the same images, split, resolution and "
                 "seed, or *quoted*: anomalib's runs of PatchCore, PaDiM and GANomaly on the full MVTec AD "
                 "split with other backbones ({mod}`adlib.references`; single runs, seed 42, not re-run "
                 "here, so not on this build's data). Rows from a model that is not healthy back no claim.")
    for category in dict.fromkeys(r["category"] for _, r in found):
        rows = []
        for chapter, r in found:
            if r["category"] != category:
                continue
            auroc = r.get("image_auroc", r.get("patch_auroc"))
            paper = r.get("published")
            rows.append([f"{{doc}}`{chapter}`", r["method"], r.get("source", "this run"), r.get("level", "image"),
                         _num(auroc),
                         _num(r.get("image_ap", r.get("patch_ap"))), _num(r.get("f1_max")),
                         _num(r.get("pixel_auroc")), _num(r.get("aupro")), r.get("health", "–"), _num(paper),
                         _num(auroc - paper if isinstance(paper, (int, float)) and isinstance(auroc, (int, float))
                              else None, signed=True)])
        rows += [["–", o["method"], "quoted (anomalib)", "image", _num(o["image_auroc"]), "–", "–",
                  _num(o["pixel_auroc"]), "–", "–", "–", "–"] for o in references.outside_rows(category)]
        parts.append(f"### {category}")
        parts.append(_table(["chapter", "method", "source", "level", "AUROC", "AP", "F1-max", "pixel AUROC",
                             "AUPRO", "health", "paper", "Δ vs paper"], rows))
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


# each chapter's paper, for the verdict table (bibliography keys)
PAPERS = {"schneider_cae_vae_aae": "schneider2022", "soukup_latent_vae": "soukup2018",
          "fadaeinejad_cae_pixels": "fadaeinejad2021", "zhu_two_stage_rotnet": "zhu2021",
          "saeedi_cpcae_knn": "saeedi2022"}


def _claim_value(value: Any, unit: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = f"{value:.1f}" if ("%" in unit or "points" in unit) else f"{value:.3f}"
        return text.replace("-", "−")
    return "–" if value is None else str(value)


def claim_rows(loaded: list[tuple[str, dict]]) -> list[dict]:
    """Every chapter's claims (results.json ``claims``, :mod:`adlib.claims`) with its chapter."""
    return [{**c, "chapter": chapter} for chapter, results in loaded for c in results.get("claims") or []]


# a status as a verb phrase, for one claim and for several: "1 partly holds, 2 are inconclusive"
_STATUS_PHRASES = {"holds": ("holds", "hold"), "partly": ("partly holds", "partly hold"),
                   "does not hold": ("does not hold", "do not hold"),
                   "not established": ("is not established", "are not established"),
                   "inconclusive": ("is inconclusive", "are inconclusive"), "untested": ("is untested", "are untested")}


def _status_counts(rows: list[dict]) -> str:
    """"1 partly holds, 2 are inconclusive": how many claims have each status, in :data:`STATUSES` order."""
    return ", ".join(f"{n} {_STATUS_PHRASES[status][n != 1]}" for status in STATUSES
                     if (n := sum(r["status"] == status for r in rows)))


CLAIM_COLUMNS = ["status", "ours [95 % interval]", "published", "Δ"]


def _claim_cells(r: dict) -> list[str]:
    """A claim's status, our number with its interval, the published one and Δ (only on the paper's data)."""
    unit = r["unit"]
    ours = _claim_value(r["ours"], unit) + (f" {unit}" if unit and isinstance(r["ours"], (int, float)) else "")
    if r.get("interval"):
        ours += f" [{_claim_value(r['interval'][0], unit)}, {_claim_value(r['interval'][1], unit)}]"
    delta = "–" if r.get("delta") is None else ("+" if r["delta"] >= 0 else "−") + _claim_value(abs(r["delta"]), unit)
    return [f"**{r['status']}**", ours, _claim_value(r["published"], unit), delta]


def claims_markdown(rows: list[dict]) -> str:
    """A chapter's claims as the overview's verdict table shows them (:mod:`adlib.claims`), each
    with its note in the row: the chapter and the overview say the same thing."""
    return _table(["claim", *CLAIM_COLUMNS, "why, and on what"],
                  [[r["claim"], *_claim_cells(r), _claim_note(r) or "–"] for r in rows])


def _claim_note(row: dict) -> str:
    """What a reader needs beside a row: its note (the data it was judged on, the gates' reasons,
    :func:`adlib.claims.judge`) and the interval's method or why there is none."""
    interval = (f"interval: {row['interval_method']}" if row.get("interval") else
                f"no interval: {row['no_interval']}" if row.get("no_interval") else "")
    return "; ".join(p for p in (row.get("note"), interval) if p)


def verdict_section(loaded: list[tuple[str, dict]]) -> list[str]:
    """The verdict table: paper × claim × status × ours × published × Δ × evidence."""
    rows = claim_rows(loaded)
    parts = ["(verdict-table)=", "## Verdicts: does each paper's main claim hold?"]
    if not rows:
        return parts + ["*No chapter of this build stored its claims.*"]
    parts.append(f"Each paper's main claims, as its chapter judged them from this build's runs ("
                 + _status_counts(rows) + "), each decided the same way ({mod}`adlib.claims`): *holds* or "
                 "*does not hold* only when the 95 % interval of our number clears the claim's margin, *not "
                 "established* when it straddles it; *inconclusive* when a model behind the evidence did not "
                 "learn ({mod}`adlib.health`) or every side failed its task; *untested* when this build did not "
                 "run the paper's own data (the note says what would). Δ (ours − published) only where we ran "
                 "the paper's own data.")
    notes = list(dict.fromkeys(_claim_note(r) for r in rows if _claim_note(r)))   # below the table: rows stay short
    parts.append(_table(["paper", "claim", *CLAIM_COLUMNS, "evidence"], [
        [f"{{cite:t}}`{PAPERS[r['chapter']]}`" if r["chapter"] in PAPERS else r["chapter"], r["claim"], *_claim_cells(r),
         f"{{doc}}`chapter <{r['chapter']}>`" + (f" (note {notes.index(_claim_note(r)) + 1})" if _claim_note(r) else "")]
        for r in rows]))
    if notes:
        parts.append("\n".join(f"{i}. {note}" for i, note in enumerate(notes, 1)))
    return parts


def method_summary(records: list[dict]) -> list[dict]:
    """Per benchmark method: its family, the mean image AUROC over its usable runs (model healthy or
    untrained) and how many of its runs were usable; best first, methods with no usable run last."""
    by: dict[str, dict] = {}
    for r in records:
        entry = by.setdefault(r["method"], {"method": r["method"], "family": benchmark.family(r.get("detector", ""), r["method"]),
                                            "runs": 0, "usable": [], "datasets": set()})
        entry["runs"] += 1
        if r.get("health") in health.USABLE and r.get("image_auroc") is not None:
            entry["usable"].append(r["image_auroc"])
            entry["datasets"].add(r["dataset"])
    rows = [{"method": e["method"], "family": e["family"], "runs": e["runs"], "usable_runs": len(e["usable"]),
             "datasets": len(e["datasets"]), "mean_auroc": sum(e["usable"]) / len(e["usable"]) if e["usable"] else None}
            for e in by.values()]
    return sorted(rows, key=lambda r: (r["mean_auroc"] is None, -(r["mean_auroc"] or 0)))


def _best(rows: list[dict], family: str | None = None) -> dict | None:
    return next((r for r in rows if r["mean_auroc"] is not None and (family is None or r["family"] == family)), None)


def _method_text(row: dict | None) -> str:
    if row is None:
        return "none learnt"
    return f"{row['method']}, {row['mean_auroc']:.3f} over {row['usable_runs']} run(s) on {row['datasets']} dataset(s)"


def cross_paper_section(bench: dict | None) -> list[str]:
    """Which family of method wins on this build's data (benchmark records, usable runs only),
    beside anomalib's PatchCore and PaDiM on MVTec AD."""
    parts = ["(cross-paper-answer)=", "## The cross-paper answer: which family works?"]
    if not bench or not bench.get("records"):
        return parts + ["*The benchmark chapter did not run in this build.*"]
    rows = method_summary(bench["records"])
    sets = sorted({r["dataset"] for r in bench["records"]})
    parts.append(f"Every method of the {{doc}}`benchmark <benchmark_cross_paper>` on the same {len(sets)} datasets "
                 f"({', '.join(sets)}). The mean image AUROC counts only runs whose model learnt (healthy or "
                 "untrained); a method with fewer usable runs is averaged over fewer, possibly easier, datasets.")
    parts.append(_table(["method", "family", "mean image AUROC (usable runs)", "usable runs", "datasets"], [
        [r["method"], r["family"], "–" if r["mean_auroc"] is None else f"{r['mean_auroc']:.3f}",
         f"{r['usable_runs']} of {r['runs']}", r["datasets"]] for r in rows]))
    measured = {r["method"].split()[0]: r for r in rows if r["mean_auroc"] is not None}
    parts.append("Quoted, not measured here: anomalib's own runs on MVTec AD "
                 f"({references.SOURCE}), mean over its 15 categories, on other data and backbones than this "
                 "build's. Beside each, *measured here*: the same method's mean over this build's datasets "
                 "(the benchmark above, its protocol and backbone), where the benchmark ran it.")
    parts.append(_table(["model", "quoted: mean image AUROC (MVTec AD)", "quoted: mean pixel AUROC",
                         "measured here: mean image AUROC (this build's data)"], [
        [model, f"{by[references.MEAN][0]:.3f}", "–" if by[references.MEAN][1] is None else f"{by[references.MEAN][1]:.3f}",
         f"{measured[model.split()[0]]['mean_auroc']:.3f} ({measured[model.split()[0]]['method']})"
         if model.split()[0] in measured else "–"]
        for model, by in references.ANOMALIB.items() if references.MEAN in by]))
    best, recon, pca = _best(rows), _best(rows, base.PIXEL_AE), _best(rows, base.LINEAR)
    parts.append(f"**On this build's data**, the best method whose models learnt is {_method_text(best)} "
                 f"({best['family'] if best else '–'}); the best pixel-space autoencoder that learnt: "
                 f"{_method_text(recon)}; the PCA residual: {_method_text(pca)}.")
    return parts


def _profiles(loaded: list[tuple[str, dict]]) -> list[str]:
    return sorted({str(r.get("provenance", {}).get("profile")) for _, r in loaded})


def budget_section(loaded: list[tuple[str, dict]]) -> list[str]:
    """What this build's budget (profile, device, healthy models) means for how far to trust it."""
    profiles = _profiles(loaded)
    devices = sorted({str(r.get("provenance", {}).get("device")) for _, r in loaded})
    records = [h for _, r in loaded for h in r.get("health") or [] if h.get("status") != "not trained"]
    healthy = sum(h.get("status") == "healthy" for h in records)
    wall = sum(r.get("provenance", {}).get("wall_seconds", 0) for _, r in loaded)
    scale = ("the papers' scale" if profiles == ["paper"] else
             "a budget far below the papers' (fewer steps, smaller images and networks, subsets of the data)")
    return ["## What this build's budget means", (
        f"This build ran the `{', '.join(profiles)}` profile on {', '.join(devices)} in {wall / 60:.0f} minutes of "
        f"chapter time, at {scale}. {healthy} of the {len(records)} trained models passed the health checks. "
        "A claim resting on a model that did not learn is marked inconclusive, never holds or fails: it says this "
        "budget was too small for that model, not that the method does not work. Numbers from models that did "
        "learn are real measurements, but on small data and one or few seeds their differences of a few points "
        "are within noise. The `paper` profile (a GPU) is the test at the papers' scale; its kept runs are "
        "listed below when there are any.")]


def answer(generated: Path) -> str:
    """The intro's short answer, from the same results as the overview (``answer.md``)."""
    loaded = _loaded(generated)
    if not loaded:
        return "*No chapter has been executed yet: run `make book`.*\n"
    rows = claim_rows(loaded)
    counts = _status_counts(rows)
    bench = dict(loaded).get("benchmark_cross_paper")
    summary = method_summary(bench["records"]) if bench and bench.get("records") else []
    best, recon = _best(summary), _best(summary, base.PIXEL_AE)
    profile = ", ".join(_profiles(loaded))
    text = (f"**The short answer, from this build** (`{profile}` profile): of the papers' {len(rows)} main claims, "
            f"{counts or 'none was stored'}. ")
    if best:
        text += (f"Across the papers, on the same data, the strongest method whose models learnt is "
                 f"{best['method']} (family: {best['family']}), with mean image AUROC {best['mean_auroc']:.3f}; the best "
                 + (f"pixel-space autoencoder reaches {recon['mean_auroc']:.3f} ({recon['method']}). "
                    if recon else "pixel-space autoencoder: none learnt within this build's budget. "))
    patchcore = next((r for r in summary if r["method"] == "PatchCore" and r["mean_auroc"] is not None), None)
    quoted = references.ANOMALIB["PatchCore (Wide ResNet-50)"][references.MEAN][0]
    text += ((f"PatchCore, the field's pretrained-feature reference, measured on the same data: "
              f"{patchcore['mean_auroc']:.3f}. ") if patchcore else
             (f"For scale only, quoted and on other data than this build's: PatchCore reaches {quoted:.3f} on "
              "MVTec AD (anomalib's runs). "))
    text += (
             "Inconclusive claims rest on models that did not learn within this build's budget (or on a "
             "comparison whose every side failed); untested ones were not run on the paper's own data; not "
             "established ones have an interval that straddles the claim's margin. "
             "The evidence: {ref}`the verdict table <verdict-table>` and {ref}`the cross-paper answer <cross-paper-answer>`.")
    return text + "\n"


def _loaded(generated: Path) -> list[tuple[str, dict]]:
    order = _toc_order(generated)
    runs = sorted(generated.glob("*.results.json"),        # book order; chapters not in it last
                  key=lambda p: (order.index(n) if (n := p.name.removesuffix(".results.json")) in order
                                 else len(order), p.name))
    return [(path.name.removesuffix(".results.json"), json.loads(path.read_text())) for path in runs]


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
             "What this build found: first whether each paper's main claim holds, then which family of "
             "method works across the papers, what this build's budget means for trusting it, and then "
             "every chapter run with its provenance, health and verdict lines. Everything here is taken "
             "from the chapters' `results.json` files (this page is generated by `adlib.report`)."]
    loaded = _loaded(generated)
    if not loaded:
        parts.append("*No chapter has been executed yet.*")
    else:
        parts += verdict_section(loaded)
        parts += cross_paper_section(dict(loaded).get("benchmark_cross_paper"))
        parts += budget_section(loaded)
        parts.append("## The runs of this build")
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
        parts.append(f"From {{doc}}`the chapter <{chapter}>`; its numbers, health checks and provenance: "
                     f"{{download}}`{chapter}.results.json <{chapter}.results.json>`.")
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
        out = Path(args[1])
        samples = write_samples(out.parent / "data_samples", os.environ.get("ADLIB_DATA") or None)
        atomic_write_bytes(out, data_page(samples).encode())
    elif args[:1] == ["results"] and len(args) == 3:
        atomic_write_bytes(args[2], results_page(Path(args[1])).encode())
    elif args[:1] == ["answer"] and len(args) == 3:
        atomic_write_bytes(args[2], answer(Path(args[1])).encode())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
