"""The tables and figures of the chapter ``zhu_two_stage_rotnet`` and its detailed reading of
them (:func:`verdict`), from the runs of :func:`adlib.papers.zhu.run_one_class` ({dataset:
OneClassRun}); the paper's claims are decided by :func:`adlib.papers.zhu.claims`.

    summary = summarise(runs)                             # mean AUROC per dataset and method
    lines = verdict(summary, error_contrast(runs).to_dict(orient="index"), n_seeds=1,
                    healths=zhu.method_healths(runs), terms=term_ablation(runs).to_dict(orient="index"))
"""

from __future__ import annotations

import functools
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from adlib import health, metrics, plots, widgets
from adlib.papers.zhu import ALL_METHODS, PAPER_COLUMN, PUBLISHED, OneClassRun, auroc_of, records

LAMBDAS = [0.0, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0]
# glue names of the first dataset's mean AUROC per method
MEAN_GLUES = {"Two-stage": "mean_two", "CAE": "mean_cae", "PCA": "mean_pca", "RotNet": "mean_rotnet",
              "Deep SVDD": "mean_svdd", "OC-SVM": "mean_ocsvm"}
auroc_text = functools.partial(metrics.auroc_text, percent=True)     # AUROCs here are in %


# ----------------------------------------------------------------------------- tables

def per_class(runs: dict[str, OneClassRun]) -> pd.DataFrame:
    """AUROC (0–1) per dataset, method and normal class, mean over seeds."""
    return records(runs).groupby(["dataset", "method", "class"], sort=False)["auroc"].mean().reset_index()


def per_class_wide(runs: dict[str, OneClassRun]) -> pd.DataFrame:
    """AUROC (%) with the classes as columns, one row per (dataset, method)."""
    table = per_class(runs)
    wide = table.pivot_table(index=["dataset", "method"], columns="class", values="auroc") * 100
    order = [(d, m) for d in runs for m in ALL_METHODS if (d, m) in wide.index]
    return wide.reindex(order)


def summarise(runs: dict[str, OneClassRun]) -> dict[str, dict[str, dict]]:
    """{dataset: {method: per_class, classes, mean, std (over seeds), seeds, std_over_classes}},
    AUROC in %, methods in the chapter's order."""
    results, classes = records(runs), per_class(runs)
    per_seed = results.groupby(["dataset", "method", "seed"])["auroc"].mean().reset_index()
    summary = {}
    for name, run in runs.items():
        if run.dataset != name or not (results.dataset == name).any():
            # never an empty table for a dataset that ran: the records must carry the name it is keyed by
            raise ValueError(f"dataset {name!r}: its run's records are named {sorted(set(results.dataset))} "
                             f"(run.dataset={run.dataset!r}); load it with the name it is keyed by")
        summary[name] = {}
        for method in ALL_METHODS:
            seed_means = 100 * per_seed[(per_seed.dataset == name) & (per_seed.method == method)]["auroc"]
            if seed_means.empty:
                continue
            rows = classes[(classes.dataset == name) & (classes.method == method)]
            summary[name][method] = {
                "per_class": [round(100 * v, 3) for v in rows["auroc"]],
                "classes": [run.class_names[k] for k in rows["class"]],
                "mean": round(float(seed_means.mean()), 3), "std": round(float(seed_means.std(ddof=0)), 3),
                "seeds": len(seed_means), "std_over_classes": round(float(100 * rows["auroc"].std(ddof=0)), 3)}
    return summary


def table1(summary: dict[str, dict[str, dict]]) -> pd.DataFrame:
    """Our mean AUROC beside their Table 1 (OCGAN: published only), with Δ = ours − published."""
    rows = []
    for name, methods in summary.items():
        column = PAPER_COLUMN.get(name)
        for method in list(methods) + (["OCGAN"] if column else []):
            row = {"dataset": name, "method": method,
                   "published": PUBLISHED.get(method, {}).get(column, np.nan) if column else np.nan}
            if method in methods:             # no spread over a single seed: NaN, shown as "–"
                m = methods[method]
                row.update({"ours": m["mean"], "± (seeds)": m["std"] if m.get("seeds", 2) > 1 else np.nan})
            rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=["dataset", "method", "published", "ours", "± (seeds)"])
    table["Δ (ours − published)"] = table["ours"] - table["published"]
    return table


def published_records() -> list[dict]:
    return [{"method": method, **values} for method, values in PUBLISHED.items()]


def mean_glues(summary: dict[str, dict[str, dict]], dataset: str) -> dict[str, float]:
    """The glue values ``mean_two``, ``mean_cae``, ... of one dataset (NaN: method not run)."""
    return {key: summary[dataset][m]["mean"] if m in summary[dataset] else float("nan")
            for m, key in MEAN_GLUES.items()}


def term_ablation(runs: dict[str, OneClassRun]) -> pd.DataFrame:
    """Mean AUROC (%) of each term of the two-stage score alone and of the score, per dataset."""
    rows = [r for run in runs.values() for r in run.ablation]
    columns = ["MSE term only", "SSIM term only", "MSE − λ·SSIM"]
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(rows).groupby("dataset", sort=False)[columns].mean() * 100


def lambda_sweep(runs: dict[str, OneClassRun], lambdas=LAMBDAS) -> pd.DataFrame:
    """Mean AUROC (%) of MSE − λ·SSIM over λ, from the same fitted models (a sensitivity
    check: choosing λ on it would tune on test labels)."""
    rows = [{"dataset": run.dataset, "λ": value, "class": k, "seed": s,
             "auroc": 100 * auroc_of(t["mse"] + value * t["ssim"], t["anomalous"])}
            for run in runs.values() for (k, s), t in run.terms.items() for value in lambdas]
    if not rows:
        return pd.DataFrame(columns=["dataset", "λ", "auroc"])
    return pd.DataFrame(rows).groupby(["dataset", "λ"], sort=False)["auroc"].mean().reset_index()


def error_contrast(runs: dict[str, OneClassRun]) -> pd.DataFrame:
    """Median MSE of anomalous over normal test images, per class then averaged per dataset,
    for the CAE and the two-stage model's MSE decoder."""
    rows = []
    for run in runs.values():
        for (k, s), cae in run.cae_errors.items():
            anomalous = run.test_y != k
            row = {"dataset": run.dataset, "CAE": np.median(cae[anomalous]) / np.median(cae[~anomalous])}
            if (k, s) in run.terms:
                mse = run.terms[k, s]["mse"]
                row["Two-stage x̂₁"] = np.median(mse[anomalous]) / np.median(mse[~anomalous])
            rows.append(row)
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).groupby("dataset", sort=False).mean()


def timing(runs: dict[str, OneClassRun], n_seeds: int) -> pd.DataFrame:
    """Wall time per dataset; ``compute seconds`` sums the classes' own times (more than the wall
    time when classes ran side by side), ``read from store`` counts classes not run now."""
    return pd.DataFrame([{"dataset": n, "classes": len(r.classes), "seeds": n_seeds, "wall seconds": r.seconds,
                          "compute seconds": sum(c["seconds"] for c in r.class_seconds),
                          "read from store": len(r.reused_classes)}
                         for n, r in runs.items()])


# ----------------------------------------------------------------------------- figures

def plot_per_class(runs: dict[str, OneClassRun]):
    """AUROC per normal class, one panel per dataset (their Fig 3); PCA dashed."""
    table = per_class(runs)
    fig, axes = plots.panel_grid(len(runs), plots.COLUMN_INCHES, 3.6)      # one dataset a row
    for ax, (name, run) in zip(axes, runs.items()):
        for method in ALL_METHODS:
            rows = table[(table.dataset == name) & (table.method == method)]
            if len(rows):
                ax.plot(rows["class"], 100 * rows["auroc"], marker="o", lw=2.2 if method == "Two-stage" else 1.2,
                        ls="--" if method == "PCA" else "-", label=method)
        long_names = len(run.class_names[0]) > 2
        ax.set(title=name, xlabel="normal class", ylabel="AUROC (%)", xticks=run.classes)
        ax.set_xticklabels([run.class_names[k] for k in run.classes], rotation=45 if long_names else 0,
                           ha="right" if long_names else "center")
    axes[-1].legend(fontsize=9, loc="lower left")
    fig.tight_layout()
    return fig


def _message(text: str):
    fig, ax = plt.subplots(figsize=(3, 1))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center")
    return fig


def plot_lambda(sweep: pd.DataFrame, lam: float):
    """Mean AUROC over λ per dataset; λ = 0 is drawn at 10⁻³ on the log axis."""
    if sweep.empty:
        return _message("two-stage model not run")
    fig, ax = plt.subplots(figsize=(5.5, 3.3))
    for name, rows in sweep.groupby("dataset", sort=False):
        ax.plot(rows["λ"].replace(0.0, 1e-3), rows["auroc"], marker="o", label=name)
    ax.axvline(lam, color="grey", ls=":", lw=1)
    ax.set(xscale="log", xlabel="λ (λ = 0 drawn at 10⁻³)", ylabel="mean AUROC (%)",
           title="sensitivity of the two-stage score to λ")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def plot_reconstructions(run: OneClassRun, k: int, figure_images: int):
    """Their Fig 1: inputs, the CAE's and the two-stage model's reconstructions and absolute
    residuals (one colour scale for every residual), and the SSIM decoder's x̂₂."""
    panel = run.panels[k]
    columns, cmaps = ["input"], ["gray"]
    for key, short in (("CAE", "CAE"), ("Two-stage x̂₁", "2-stage")):
        if key in panel:
            columns += [key.replace("Two-stage", "2-stage"), f"residual {short}"]
            cmaps += ["gray", "magma"]
    if "Two-stage x̂₂" in panel:
        columns, cmaps = columns + ["2-stage x̂₂ (SSIM)"], cmaps + ["gray"]
    rows, labels = [], []
    for i, x in enumerate(panel["input"]):
        row = [x]
        for key in ("CAE", "Two-stage x̂₁"):
            if key in panel:
                row += [panel[key][i], np.abs(x - panel[key][i]).mean(0)]
        if "Two-stage x̂₂" in panel:
            row.append(panel["Two-stage x̂₂"][i])
        rows.append(row)
        labels.append(f"{'normal' if i < figure_images else 'anomalous'} ({run.class_names[panel['labels'][i]]})")
    residuals = [float(np.max(r[j])) for r in rows for j, c in enumerate(cmaps) if c == "magma"]
    vmax = [1 if c == "gray" else max(residuals) for c in cmaps]
    return plots.image_grid(rows, row_labels=labels, col_labels=columns, cmaps=cmaps, vmax=vmax, cell=1.45)


def _montage(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) → one (H, N·W[, 3]) strip."""
    strip = np.concatenate(list(images), axis=-1)
    return strip[0] if strip.shape[0] == 1 else strip.transpose(1, 2, 0)


def plot_class_frame(run: OneClassRun, k: int):
    """ROC curves of every method with class k normal, beside the inputs and reconstructions."""
    results = pd.DataFrame(run.records)
    auroc = results[results["class"] == k].groupby("method")["auroc"].mean()      # over seeds
    fig, (ax, ax_img) = plt.subplots(1, 2, figsize=(plots.COLUMN_INCHES, 3.4), gridspec_kw={"width_ratios": [1, 1.5]})
    for method, (fpr, tpr) in run.curves[k].items():
        ax.plot(fpr, tpr, label=f"{method} ({100 * auroc[method]:.1f})",
                lw=2 if method == "Two-stage" else 1)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"normal: {run.class_names[k]}")
    ax.legend(fontsize=9, loc="lower right")
    panel = run.panels[k]
    strips = [_montage(panel["input"])] + [_montage(panel[key]) for key in ("CAE", "Two-stage x̂₁") if key in panel]
    ax_img.imshow(np.concatenate(strips, axis=0), cmap="gray", vmin=0, vmax=1)
    ax_img.set(xticks=[], yticks=[], title="rows: input, CAE, two-stage x̂₁\n(left half normal)")
    ax_img.grid(False)
    fig.tight_layout()
    return fig


def class_slider(run: OneClassRun, default_class: int | None = None):
    """A slider over the normal classes of one dataset; every frame precomputed."""
    def render(k):
        return plot_class_frame(run, int(k)), f"<b>{run.dataset}</b>, normal class {run.class_names[int(k)]}"

    default = run.classes.index(default_class) if default_class in run.classes else 0
    return widgets.precomputed_slider(f"{run.dataset}: normal class", run.classes, render,
                                      default_index=default, fmt="{:.0f}")


# ----------------------------------------------------------------------------- verdict

def _blocked(healths: dict, name: str, methods) -> str | None:
    """The "inconclusive (…)" text when a model of ``methods`` on dataset ``name`` is not usable."""
    return health.inconclusive({label: h for m in methods for label, h in healths.get(name, {}).get(m, {}).items()})


def _ranking_line(name: str, s: dict[str, dict], n_seeds: int, healths: dict | None = None) -> str:
    healths = healths or {}
    blocked = _blocked(healths, name, ["Two-stage"])
    if blocked:
        return (f"- **{name}**: whether the two-stage model beats the baselines is **{blocked}**; its "
                f"measured mean is {auroc_text(s['Two-stage']['mean'])}.")
    left_out = {m: _blocked(healths, name, [m]) for m in s}
    left_out = {m: text for m, text in left_out.items() if text}
    ranked = {m: v for m, v in s.items() if m not in left_out}
    ranking = sorted(ranked, key=lambda m: -ranked[m]["mean"])
    line = (f"- **{name}**: the two-stage model ranks {ranking.index('Two-stage') + 1} of {len(ranking)} "
            f"(best: {ranking[0]}, {auroc_text(ranked[ranking[0]]['mean'])})")
    if "PCA" in ranked:
        floor = ranked["PCA"]["mean"]
        below = [m for m in ranking if m != "PCA" and ranked[m]["mean"] < floor]
        line += (f"; the linear PCA floor is {floor:.1f}, and "
                 + (f"{', '.join(below)} fall{'s' if len(below) == 1 else ''} below it" if below
                    else "every deep method clears it"))
    if left_out:
        line += "; left out of the ranking: " + "; ".join(f"{m}, {text}" for m, text in left_out.items())
    if n_seeds == 1:
        line += " (one seed: differences of about a point or less between methods are not established)"
    return line + "."


def _contrast_line(name: str, row: dict[str, float], healths: dict | None = None) -> str:
    cae, two = row["CAE"], row["Two-stage x̂₁"]
    claim = f"- **Reconstruction of anomalies ({name})**: "
    blocked = _blocked(healths or {}, name, ["CAE", "Two-stage"])
    if blocked:
        return (claim + f"**{blocked}**; the measured contrasts ({cae:.2f}× under the CAE, {two:.2f}× under "
                f"the two-stage MSE decoder) come from models that did not learn.")
    if two > 1.05 * cae:       # one run, no interval: within 5 % is a tie (a rule of thumb, as Soukup's ratio)
        ending = "the frozen RotNet encoder does make anomalies harder to reconstruct, as the paper argues."
    elif two >= cae / 1.05:
        ending = "about the same contrast (within 5 %): how the encoder was trained makes no clear difference here."
    else:
        ending = "the CAE separates the errors better, contrary to the paper's Fig 1 argument."
    return (claim + f"anomalous test images have {cae:.2f}× the median "
            f"error of normal ones under the CAE and {two:.2f}× under the two-stage MSE decoder — {ending}")


def _terms_line(name: str, row: dict[str, float], cae: float | None, healths: dict | None = None) -> str:
    """Which term of MSE − λ·SSIM carries the two-stage result (ties: within one point)."""
    mse, structural, both = row["MSE term only"], row["SSIM term only"], row["MSE − λ·SSIM"]
    claim = f"- **Which term carries the two-stage score ({name})**: "
    measured = (f"MSE term alone {auroc_text(mse)}, SSIM term alone {auroc_text(structural)}, the score "
                f"{auroc_text(both)}")
    blocked = _blocked(healths or {}, name, ["Two-stage"] + (["CAE"] if cae is not None else []))
    if blocked:
        return claim + f"**{blocked}**; measured: {measured}."
    if structural > mse + 1:
        carrier = "the SSIM branch carries the result"
    elif mse > structural + 1:
        carrier = "the MSE decoder on the frozen RotNet encoder carries the result"
    else:
        carrier = "both terms do about as well (within one point)"
    line = claim + f"{measured} — {carrier}"
    if cae is not None:
        d = mse - cae
        line += (f"; the rotation pre-training alone (the MSE decoder, same loss as the CAE) is {d:+.1f} points "
                 f"against the CAE's {auroc_text(cae)}, "
                 + ("a tie within one point" if abs(d) <= 1 else "ahead" if d > 0 else "behind"))
    return line + "."


def verdict(summary: dict[str, dict[str, dict]], contrast: dict[str, dict[str, float]], n_seeds: int,
            healths: dict | None = None, terms: dict[str, dict[str, float]] | None = None) -> list[str]:
    """The chapter's detailed reading of its tables, as markdown lines, from this run's numbers:
    the ranking per dataset, which score term carries the result, and the reconstruction
    contrast. The paper's main claims are not restated here: :func:`claims` decides them.

    ``summary``: {dataset: {method: {"mean": AUROC %, ...}}} (:func:`summarise`);
    ``contrast``: {dataset: {"CAE": ratio, "Two-stage x̂₁": ratio}} (:func:`error_contrast`);
    ``healths``: {dataset: {method: {model label: Health}}} (:func:`method_healths`) — a claim
    whose evidence comes from a model that is not usable is "inconclusive (…)";
    ``terms``: {dataset: {"MSE term only", "SSIM term only", "MSE − λ·SSIM": AUROC %}}
    (:func:`term_ablation`).
    """
    healths, terms = healths or {}, terms or {}
    lines = []
    if not any("Two-stage" in s for s in summary.values()):
        return lines
    lines += [_ranking_line(name, s, n_seeds, healths) for name, s in summary.items() if "Two-stage" in s]
    if not any(PAPER_COLUMN.get(n) == "FashionMNIST" for n in summary):
        lines.append("- **Fashion-MNIST** (the two-stage model ahead of the baselines there too): untested — "
                     "this build did not run it (the `real` and `paper` profiles do).")
    lines += [_terms_line(name, row, summary[name].get("CAE", {}).get("mean"), healths)
              for name, row in terms.items() if name in summary]
    lines += [_contrast_line(name, row, healths) for name, row in contrast.items()
              if not math.isnan(row.get("Two-stage x̂₁", math.nan))]
    return lines
