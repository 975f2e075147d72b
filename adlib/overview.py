"""The results overview and the intro's short answer, generated from every executed chapter's
``results.json``:

    python -m adlib.overview results GEN OUT.md    # the overview page, from GEN/*.results.json
    python -m adlib.overview answer GEN OUT.md     # the intro's short answer, from the same files
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from adlib import claims, kept_runs, references, tables
from adlib.detectors import base
from adlib.runtime import atomic_write_bytes


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
                     f"{{doc}}`{pair['chapter']}`", tables.number(float(ours)), tables.number(theirs),
                     tables.signed(theirs - ours),
                     status, _params(chapter, pair["keys"]), protocol, pair["also"]])
    return rows


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
                         tables.number(auroc), tables.number(r.get("image_ap", r.get("patch_ap"))),
                         tables.number(r.get("f1_max")), tables.number(r.get("pixel_auroc")),
                         tables.number(r.get("aupro")), r.get("health", "–"), tables.number(paper),
                         tables.signed(auroc - paper if isinstance(paper, (int, float))
                                       and isinstance(auroc, (int, float)) else None)])
        rows += [["–", o["method"], "quoted (anomalib)", "image", tables.number(o["image_auroc"]), "–", "–",
                  tables.number(o["pixel_auroc"]), "–", "–", "–", "–"] for o in references.outside_rows(category)]
        parts.append(f"### {category}")
        parts.append(tables.markdown(["chapter", "method", "source", "level", "AUROC", "AP", "F1-max",
                                      "pixel AUROC", "AUPRO", "health", "paper", "Δ vs paper"], rows))
    return parts


# each chapter's paper, for the verdict table (bibliography keys)
PAPERS = {"schneider_cae_vae_aae": "schneider2022", "soukup_latent_vae": "soukup2018",
          "fadaeinejad_cae_pixels": "fadaeinejad2021", "zhu_two_stage_rotnet": "zhu2021",
          "saeedi_cpcae_knn": "saeedi2022"}


def claim_rows(loaded: list[tuple[str, dict]]) -> list[dict]:
    """Every chapter's claims (results.json ``claims``, :mod:`adlib.claims`) with its chapter."""
    return [{**c, "chapter": chapter} for chapter, results in loaded for c in results.get("claims") or []]


def verdict_section(loaded: list[tuple[str, dict]]) -> list[str]:
    """The verdict table: paper × claim × status × ours × published × Δ × evidence."""
    rows = claim_rows(loaded)
    parts = ["(verdict-table)=", "## Verdicts: does each paper's main claim hold?"]
    if not rows:
        return parts + ["*No chapter of this build stored its claims.*"]
    parts.append(f"Each paper's main claims, as its chapter judged them from this build's runs ("
                 + claims.status_counts(rows) + "), each decided the same way ({mod}`adlib.claims`): *holds* or "
                 "*does not hold* only when the 95 % interval of our number clears the claim's margin, *not "
                 "established* when it straddles it; *inconclusive* when a model behind the evidence did not "
                 "learn ({mod}`adlib.health`) or every side failed its task; *untested* when this build did not "
                 "run the paper's own data (the note says what would). Δ (ours − published) only where we ran "
                 "the paper's own data.")
    notes = list(dict.fromkeys(claims.row_note(r) for r in rows if claims.row_note(r)))   # below the table: rows stay short
    parts.append(tables.markdown(["paper", "claim", *claims.COLUMNS, "evidence"], [
        [f"{{cite:t}}`{PAPERS[r['chapter']]}`" if r["chapter"] in PAPERS else r["chapter"], r["claim"], *claims.cells(r),
         f"{{doc}}`chapter <{r['chapter']}>`" + (f" (note {notes.index(claims.row_note(r)) + 1})" if claims.row_note(r) else "")]
        for r in rows]))
    if notes:
        parts.append("\n".join(f"{i}. {note}" for i, note in enumerate(notes, 1)))
    return parts


def _exam(bench: dict | None) -> list[dict]:
    """The benchmark's exam rows (:func:`adlib.papers.cross_paper.exam`), best first; [] without one."""
    return list((bench or {}).get("exam") or [])


def _best(rows: list[dict], family: str | None = None) -> dict | None:
    """The best comparable method of the exam (of ``family``), or None."""
    return next((r for r in rows if r.get("mean image AUROC") is not None
                 and (family is None or r["family"] == family)), None)


def _mean_text(row: dict) -> str:
    low, high = row.get("interval") or (None, None)
    interval = f" [{low:.3f}, {high:.3f}]" if low is not None else ""
    return f"{row['mean image AUROC']:.3f}{interval}"


def _method_text(row: dict | None) -> str:
    if row is None:
        return "none comparable (no method of the family learnt on every cell)"
    return f"{row['method']}, {_mean_text(row)} over {row['usable cells'].split(' of ')[1]} cells"


def cross_paper_section(bench: dict | None) -> list[str]:
    """Which family of method wins on this build's data (the benchmark's exam: the same cells for all),
    beside anomalib's PatchCore and PaDiM on MVTec AD."""
    parts = ["(cross-paper-answer)=", "## The cross-paper answer: which family works?"]
    if not bench or not _exam(bench):
        return parts + ["*The benchmark chapter did not run in this build.*"]
    rows = _exam(bench)
    sets = sorted({r["dataset"] for r in bench["records"]})
    parts.append(f"Every method of the {{doc}}`benchmark <benchmark_cross_paper>` sat the same exam: the same "
                 f"{len(sets)} datasets ({', '.join(sets)}) and {len(bench.get('seeds') or [])} seed(s). A method's "
                 "mean image AUROC is given only when its models learnt on every cell (healthy or untrained); "
                 "otherwise it is *not comparable*. The 95 % intervals are paired bootstraps over test images and "
                 "seeds; a method *differs from the best* only when the interval of its difference excludes 0.")
    parts.append(tables.markdown(["method", "family", "mean image AUROC [95 %]", "usable cells", "differs from best"], [
        [r["method"], r["family"], _mean_text(r) if r.get("mean image AUROC") is not None else r["status"],
         r["usable cells"], r.get("differs from best") or "–"] for r in rows]))
    measured = {r["method"].split()[0]: r for r in rows if r.get("mean image AUROC") is not None}
    parts.append("Quoted, not measured here: anomalib's own runs on MVTec AD "
                 f"({references.SOURCE}), mean over its 15 categories, on other data and backbones than this "
                 "build's. Beside each, *measured here*: the same method's mean over this build's datasets "
                 "(the benchmark above, its protocol and backbone), where the benchmark ran it.")
    parts.append(tables.markdown(["model", "quoted: mean image AUROC (MVTec AD)", "quoted: mean pixel AUROC",
                                  "measured here: mean image AUROC (this build's data)"], [
        [model, f"{by[references.MEAN][0]:.3f}", "–" if by[references.MEAN][1] is None else f"{by[references.MEAN][1]:.3f}",
         f"{_mean_text(measured[model.split()[0]])} ({measured[model.split()[0]]['method']})"
         if model.split()[0] in measured else "–"]
        for model, by in references.ANOMALIB.items() if references.MEAN in by]))
    best, recon, pca = _best(rows), _best(rows, base.PIXEL_AE), _best(rows, base.LINEAR)
    parts.append(f"**On this build's data**, the best comparable method is {_method_text(best)} "
                 f"({best['family'] if best else '–'}); the best comparable pixel-space autoencoder: "
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
    counts = claims.status_counts(rows)
    bench = dict(loaded).get("benchmark_cross_paper")
    summary = _exam(bench)
    best, recon = _best(summary), _best(summary, base.PIXEL_AE)
    profile = ", ".join(_profiles(loaded))
    text = (f"**The short answer, from this build** (`{profile}` profile): of the papers' {len(rows)} main claims, "
            f"{counts or 'none was stored'}. ")
    if best:
        text += (f"Across the papers, on the same data and cells, the strongest comparable method is "
                 f"{best['method']} (family: {best['family']}), with mean image AUROC {_mean_text(best)}; the best "
                 + (f"pixel-space autoencoder reaches {_mean_text(recon)} ({recon['method']}). "
                    if recon else "pixel-space autoencoder: none learnt on every cell within this build's budget. "))
    patchcore = next((r for r in summary if r["method"] == "PatchCore" and r.get("mean image AUROC") is not None), None)
    quoted = references.ANOMALIB["PatchCore (Wide ResNet-50)"][references.MEAN][0]
    text += ((f"PatchCore, the field's pretrained-feature reference, measured on the same data: "
              f"{_mean_text(patchcore)}. ") if patchcore else
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


def results_page(generated: Path) -> str:
    parts = ["# Results overview",
             "What this build found: first whether each paper's main claim holds, then which family of "
             "method works across the papers, what this build's budget means for trusting it, and then "
             "every chapter run with its provenance, health and verdict lines. Everything here is taken "
             "from the chapters' `results.json` files (this page is generated by `adlib.overview`)."]
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
                     f"{prov.get('wall_seconds', float('nan')):.0f} s", kept_runs.health_count(results),
                     str(prov.get("git_commit", ""))[:10], str(prov.get("finished_at", ""))[:10]])
    if rows:
        parts.append("*Healthy models*: trained models that passed the health checks of "
                     "{mod}`adlib.health` on held-out normal images (beat the mean image, outputs "
                     "follow inputs, loss converged, no blow-up); a verdict resting on any other model "
                     "is marked inconclusive in its chapter.")
        parts.append(tables.markdown(["chapter", "profile", "device", "wall time", "healthy models", "commit",
                                      "date"], rows))
    same = same_detector_rows(dict(loaded))
    if same:
        parts.append("## Chapters and the benchmark")
        parts.append("The same detector object of {mod}`adlib.detectors` runs in its chapter and in the "
                     "{doc}`benchmark <benchmark_cross_paper>`; the numbers differ only through the "
                     "protocol (image size, colour, training images and steps, test split; the benchmark "
                     "also holds out a tenth of the training images for the health check). The two "
                     "numbers below are from this build; the benchmark's is its mean over seeds, with "
                     "its model's health.")
        parts.append(tables.markdown(["detector", "metric", "dataset", "chapter", "chapter value",
                                      "benchmark value", "benchmark − chapter", "benchmark health",
                                      "chapter protocol", "benchmark protocol", "also differs"], same))
    if loaded:
        parts += real_data_section(loaded)
        parts += kept_runs.kept_section(generated.resolve().parent.parent / "results" / "paper")
    for chapter, results in loaded:
        parts.append(f"## {_chapter_title(generated, chapter)}")
        parts.append(f"From {{doc}}`the chapter <{chapter}>`; its numbers, health checks and provenance: "
                     f"{{download}}`{chapter}.results.json <{chapter}.results.json>`.")
        headline = results.get("headline")
        if headline:   # [{"what": ..., "published": ..., "ours": ...}, ...]
            parts.append(tables.markdown(["", "published", "ours"],
                                         [[h.get("what"), tables.number(h.get("published")),
                                           tables.number(h.get("ours"))] for h in headline]))
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
    pages = {"results": results_page, "answer": answer}
    if len(args) != 3 or args[0] not in pages:
        sys.exit(__doc__)
    atomic_write_bytes(args[2], pages[args[0]](Path(args[1])).encode())


if __name__ == "__main__":
    main()
