"""The cross-paper benchmark chapter: the run over datasets × seeds × detectors, its tables,
figures and verdict (the protocol, datasets and loop are in :mod:`adlib.benchmark`)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from scipy.stats import rankdata

from adlib import benchmark, detectors, grid, health, plots, references, tables, training
from adlib.claims import BOOTSTRAP_RESAMPLES, percentile_interval, resamples
from adlib.detectors import base
from adlib.metrics import auroc_text

# The families that reconstruct (detectors.base.FAMILIES): "autoencoders" in the answer below.
AUTOENCODER_FAMILIES = (base.PIXEL_AE, base.FEATURE_AE, base.HYBRID_AE, base.AE_LATENT)
# Below this best-autoencoder AUROC a dataset counts as "every autoencoder fails": 0.1 above chance,
# about one standard error of an AUROC at chance on the quick profile's 25 + 25 test images
# (Hanley-McNeil: √(51 / (12 · 25 · 25)) ≈ 0.08), so not distinguishable from guessing. A rule of thumb.
FAIL_AUROC = 0.6
# Variants "matter more than the seed" when their spread on a dataset exceeds this many standard
# deviations of one method's seeds (a rough two-sided 95 % band of seed noise). A rule of thumb.
SEED_NOISE_SDS = 2
# Display choice: the heatmap's colours span 0.3–1, so that chance (0.5) is already dark and most
# colours go to 0.6–1, where the methods differ; a lower AUROC is drawn as 0.3 (its number is printed).
HEATMAP_FLOOR = 0.3


def dataset_table(sets) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": s.name, "stands for": s.stands_for, "train": len(s.train),
                          "test normal": int((s.labels == 0).sum()), "test defective": int(s.labels.sum()),
                          "pixel masks": "yes" if s.masks is not None else "no", "source": s.source}
                         for s in sets])


def method_catalogue(methods) -> pd.DataFrame:
    """One row per benchmark method: its paper, whether it trains, its image score, settings."""
    rows = []
    for name in methods:
        cls = detectors.REGISTRY[name]
        labels = [cls.label, *cls.reported_extras.values()]
        rows.append({"method": " / ".join(labels), "detector": name, "paper": cls.paper or "–",
                     "trained": "yes" if cls.takes_steps else "no", "image score": cls.score_rule,
                     "settings": ", ".join(f"{k}={v}" for k, v in benchmark.SETTINGS[name].items())})
    return pd.DataFrame(rows)


def grid_jobs(sets, embedded, methods, seeds, *, image_size, n_train, n_test, data_seed, real_max_train,
              real_max_test_per_type, iterations, batch_size, device, until_converged=False) -> list[grid.Job]:
    """The benchmark's jobs (:mod:`adlib.grid`), every (dataset, seed, method). ``sets``: the
    embedded sets named ``embedded`` (in that order), then the folder sets; each is registered
    with the grid so that jobs run in this process do not build it again."""
    recipes = [(name, (image_size, n_train, n_test, data_seed)) for name in embedded]
    recipes += [(f"folder:{s.source}", (image_size, real_max_train, real_max_test_per_type))
                for s in sets[len(embedded):]]
    for s, (key, data) in zip(sets, recipes):
        grid.remember(key, data, s)
    return grid.jobs_for([key for key, _ in recipes], methods, list(seeds), data=dict(recipes),
                         iterations=iterations, batch_size=batch_size, device=str(device),
                         until_converged=until_converged)


def run_all(jobs: list[grid.Job], store, *, executor: str = "serial", run=None):
    """Run (or read back) the grid's jobs: the records (one row per reported score, with its
    model's health), the first seed's map of the first defective test image per (dataset, method
    label) for the figure, and the failed jobs. With a ``run``, each trained model's health and
    each job's seconds are recorded in it."""
    result = grid.run_grid(jobs, store, executor=executor, progress=training.show_progress())
    records, example_maps = [], {}
    test_scores: dict[tuple[str, int, str], np.ndarray] = {}
    test_labels: dict[str, np.ndarray] = {}
    for payload in result.done:
        records += payload["records"]
        name = payload["records"][0]["dataset"]
        seed = payload["spec"]["seed"]
        test_scores.update({(name, seed, label): np.asarray(s) for label, s in payload.get("test_scores", {}).items()})
        if "test_labels" in payload:
            test_labels[name] = np.asarray(payload["test_labels"])
        example_maps.update({(name, label): np.asarray(m, np.float32) for label, m in payload["example_maps"].items()})
        if run is not None:
            run.step_seconds[f"{name}: {payload['spec']['method']}, seed {payload['spec']['seed']}"] = payload["seconds"]
            if payload["health"] is not None:
                run.health.append(payload["health"])
    table = pd.DataFrame(records)
    metrics = [c for c in (*references.FIELD_COLUMNS, "fit_seconds", "score_ms_per_image") if c in table]
    table[metrics] = table[metrics].astype(float)           # None (a metric that does not apply) -> NaN
    return table, example_maps, result.failed, Scores(test_scores, test_labels)


@dataclass
class Scores:
    """Every test image's score per (dataset, seed, method label), and each dataset's test labels."""

    scores: dict[tuple[str, int, str], np.ndarray]
    labels: dict[str, np.ndarray]


def _aurocs(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Image AUROC of each row of (B, n) scores against (B, n) 0/1 labels with the same number of
    positives in every row (the Mann–Whitney statistic on average ranks, ties counted half)."""
    ranks = rankdata(scores, axis=1)
    positives = labels.sum(axis=1)
    negatives = labels.shape[1] - positives
    return ((ranks * labels).sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)


def exam(results: pd.DataFrame, scores: Scores, count: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """One exam for every method: the same (dataset, seed) cells for all of them.

    A method's mean image AUROC is reported only when every cell of the grid is usable for it
    (its model healthy or untrained on every dataset and seed); otherwise it is *not comparable*,
    with the count of its unusable cells, and stays out of the ranking. The 95 % interval of each
    mean, and of each comparable method's difference to the best one, comes from one paired
    bootstrap: every resample draws the test images of each dataset (within normal and
    defective, the same images for every method and seed) and the seeds (the same for every
    method and dataset). A difference is called a difference only when its interval excludes 0."""
    cells = sorted({(d, s) for d, s in zip(results.dataset, results.seed)})
    datasets, seeds = sorted({d for d, _ in cells}), sorted({s for _, s in cells})
    grid_full = len(cells) == len(datasets) * len(seeds)
    rng = np.random.default_rng(seed)
    image_draws = {d: resamples(len(scores.labels[d]), scores.labels[d], count, seed=int(rng.integers(2**31)))
                   for d in datasets}
    seed_draws = rng.integers(0, len(seeds), (count, len(seeds)))
    rows, means = [], {}
    for method, group in results.groupby("method", sort=False):
        usable = group[group.health.isin(health.USABLE)]
        bad = len(cells) - len({(d, s) for d, s in zip(usable.dataset, usable.seed)})
        row = {"method": method, "family": benchmark.family(group.detector.iloc[0], method),
               "usable cells": f"{len(cells) - bad} of {len(cells)}"}
        if bad or not grid_full or any((d, s, method) not in scores.scores for d, s in cells):
            rows.append({**row, "mean image AUROC": None, "interval": None,
                         "status": f"not comparable ({bad} of {len(cells)} cells not usable)" if bad
                         else "not comparable (cells missing)"})
            continue
        per_cell = np.stack([np.stack([_aurocs(scores.scores[d, s, method][image_draws[d]],
                                               scores.labels[d][image_draws[d]]) for s in seeds], axis=1)
                             for d in datasets], axis=1)                    # (count, datasets, seeds)
        resampled = np.take_along_axis(per_cell, seed_draws[:, None, :], axis=2).mean(axis=(1, 2))
        means[method] = resampled
        point = float(group.image_auroc.mean())
        rows.append({**row, "mean image AUROC": point, "interval": percentile_interval(resampled),
                     "status": "comparable"})
    table = pd.DataFrame(rows)
    if means:
        best = max(means, key=lambda m: table.set_index("method").loc[m, "mean image AUROC"])
        deltas = {m: percentile_interval(v - means[best]) for m, v in means.items()}
        table["Δ vs best [95 %]"] = table.method.map(lambda m: deltas.get(m))
        table["differs from best"] = table.method.map(
            lambda m: None if m not in deltas or m == best else ("yes" if deltas[m][1] < 0 else "no (within noise)"))
    order = table["mean image AUROC"].fillna(-1).sort_values(ascending=False).index
    return table.loc[order].reset_index(drop=True)


def exam_text(table: pd.DataFrame) -> pd.DataFrame:
    """The exam for a page: numbers with their intervals, '–' where a method is not comparable."""
    def interval(v):
        return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"[{v[0]:+.3f}, {v[1]:+.3f}]"
    out = table.copy()
    out["mean image AUROC"] = [("–" if m is None or np.isnan(m) else f"{m:.3f} [{i[0]:.3f}, {i[1]:.3f}]")
                               for m, i in zip(table["mean image AUROC"], table["interval"])]
    if "Δ vs best [95 %]" in out:
        out["Δ vs best [95 %]"] = out["Δ vs best [95 %]"].map(interval)
    return out.drop(columns="interval").fillna("–")


def missing_cells(failed) -> pd.DataFrame:
    """One row per failed job: the grid cell it leaves empty and the error's last line."""
    return pd.DataFrame([{"method": job.method, "dataset": job.dataset.removeprefix("folder:"), "seed": job.seed,
                          "error": error.strip().splitlines()[-1]} for job, error in failed])


@dataclass
class Summary:
    """Mean and std over seeds (methods × datasets) of one metric, and 'mean ± std' text."""

    mean: pd.DataFrame
    std: pd.DataFrame
    text: pd.DataFrame


def summarise(results: pd.DataFrame, metric: str) -> Summary:
    """Mean and std over seeds; the text shows "± –" where a cell has one seed (no spread) and
    labels a mean AUROC below 0.5 as inverted (not an AP, F1 or AUPRO: below 0.5 they are just
    low, and 1 − AP means nothing)."""
    datasets = list(dict.fromkeys(results.dataset))
    methods = list(dict.fromkeys(results.method))
    grouped = results.groupby(["method", "dataset"])[metric]
    mean = grouped.mean().unstack().reindex(index=methods, columns=datasets)
    count = grouped.count().unstack().reindex(index=methods, columns=datasets).fillna(0)
    std = grouped.std(ddof=1).unstack().reindex(index=methods, columns=datasets).fillna(0.0)
    spread = std.map(lambda v: f" ± {v:.3f}").where(count > 1, " ± –")
    text = mean.map(auroc_text if "auroc" in metric else tables.number) + spread
    return Summary(mean, std, text.where(mean.notna(), "–"))


def mvtec_records(results: pd.DataFrame, sets) -> list[dict]:
    """The field's metrics on the MVTec-layout categories of the run (:data:`benchmark.REAL`
    sets), one row per (category, method): the mean over seeds, the number of seeds and the
    worst health over them, in the layout of :func:`adlib.references.comparison_table`."""
    real = [s.name for s in sets if s.stands_for == benchmark.REAL]
    chosen = results[results.dataset.isin(real)]
    if not len(chosen):
        return []
    columns = [c for c in references.FIELD_COLUMNS if c in chosen]
    grouped = chosen.groupby(["dataset", "method"], sort=False)
    table = grouped[columns].mean().join(grouped.seed.nunique().rename("seeds"))
    table = table.join(grouped.health.agg(health.worst)).reset_index().rename(columns={"dataset": "category"})
    return without_nan(table.assign(published=None))


def health_matrix(results: pd.DataFrame) -> pd.DataFrame:
    """Method × dataset: each trained model's worst health status over the seeds ("not
    trained" for the baselines). Extra scores share their model's row."""
    own = results[results.method.isin(_own_labels(results))]
    matrix = own.groupby(["method", "dataset"]).health.agg(health.worst).unstack()
    return matrix.reindex(index=list(dict.fromkeys(own.method)), columns=list(dict.fromkeys(results.dataset)))


def trained_health(results: pd.DataFrame) -> pd.Series:
    """(method, dataset) → worst status over seeds, for the trained models (own rows only)."""
    trained = results[~results.health.eq("not trained") & results.method.isin(_own_labels(results))]
    return trained.groupby(["method", "dataset"], sort=False).health.agg(health.worst)


def _own_labels(results: pd.DataFrame) -> list[str]:
    return [detectors.REGISTRY[d].label for d in dict.fromkeys(results.detector)]


def _models(results: pd.DataFrame, methods) -> list[str]:
    """The models (own labels) behind method labels: an extra score stands for its model."""
    label_of = {d: detectors.REGISTRY[d].label for d in dict.fromkeys(results.detector)}
    detector_of = dict(zip(results.method, results.detector))
    return list(dict.fromkeys(label_of[detector_of[m]] for m in methods if m in detector_of))


def _unhealthy(results: pd.DataFrame, methods, datasets=None, detail: bool = True) -> list[str]:
    """For each model behind ``methods`` that is not usable on some of ``datasets`` (default:
    all): "X collapsed on brick, gravel; under-trained on objects" (``detail``) or "X collapsed"
    (its worst status)."""
    rows = results if datasets is None else results[results.dataset.isin(datasets)]
    out = []
    for model in _models(results, methods):
        bad = rows[(rows.method == model) & ~rows.health.isin(health.USABLE)]
        if bad.empty:
            continue
        if not detail:
            out.append(f"{model} {health.worst(bad.health)}")
            continue
        per_status = [f"{status} on {', '.join(dict.fromkeys(group.dataset))}"
                      for status, group in bad.groupby("health", sort=False)]
        out.append(f"{model} {'; '.join(per_status)}")
    return out


def _inconclusive(results: pd.DataFrame, methods, datasets=None) -> str:
    bad = _unhealthy(results, methods, datasets, detail=False)
    return f" **Inconclusive** ({'; '.join(bad)})." if bad else ""


def ranking(auroc: Summary) -> pd.DataFrame:
    """The AUROC table with the mean over datasets and the mean rank, best mean first."""
    ranks = auroc.mean.rank(ascending=False, method="average")
    table = auroc.text.assign(**{"mean AUROC": auroc.mean.mean(axis=1).map("{:.3f}".format),
                                 "mean rank": ranks.mean(axis=1).map("{:.1f}".format)})
    return table.loc[auroc.mean.mean(axis=1).sort_values(ascending=False).index]


def cost_table(results: pd.DataFrame, auroc: Summary) -> pd.DataFrame:
    order = auroc.mean.mean(axis=1).sort_values(ascending=False).index
    return (results.groupby("method")[["fit_seconds", "score_ms_per_image"]].mean()
            .join(auroc.mean.mean(axis=1).rename("mean AUROC")).loc[order])


def data_figure(sets):
    rows = []
    for s in sets:
        normal, defective = np.flatnonzero(s.labels == 0)[0], np.flatnonzero(s.labels == 1)[0]
        rows.append([s.train[0], s.test[normal], s.test[defective],
                     plots.overlay(s.test[defective], s.masks[defective]) if s.masks is not None else None])
    return plots.image_grid(rows, row_labels=[s.name.replace(" (", "\n(") for s in sets],
                            col_labels=["train", "test: normal", "test: defective", "mask"], cell=1.8)


def heatmap(auroc: Summary, order):
    """Mean AUROC per method (rows) and dataset (columns) in the column's width: method and
    dataset names wrapped onto several lines instead."""
    table = auroc.mean.loc[order]
    table.index = [textwrap.fill(v, 26) for v in table.index]
    table.columns = [plots.wrap(v, 4.0 / table.shape[1], 9) for v in table.columns]   # ~4 in left for cells
    tick_lines = max(v.count("\n") + 1 for v in table.columns)
    fig, ax = plt.subplots(figsize=(plots.COLUMN_INCHES, 0.45 * len(order) + 1.2 + 0.16 * tick_lines))
    sns.heatmap(table, annot=True, fmt=".2f", vmin=HEATMAP_FLOOR, vmax=1.0, cmap="viridis", annot_kws={"fontsize": 9},
                cbar_kws={"label": "image AUROC (mean over seeds)", "pad": 0.02}, ax=ax)
    ax.tick_params(axis="x", labelrotation=0)
    ax.set(xlabel="dataset", ylabel="", title="Image AUROC per method and dataset (0.5 = chance)")
    fig.tight_layout()
    return fig


def cost_figure(cost: pd.DataFrame, device):
    fig, ax = plt.subplots(figsize=(plots.COLUMN_INCHES, 6.5))    # the column's width: legend below, not beside
    points = cost.assign(fit=cost.fit_seconds.clip(lower=1e-2)).reset_index()   # log axis: ~0 s drawn at 0.01
    sns.scatterplot(data=points, x="fit", y="mean AUROC", hue="method", style="method", s=80, ax=ax)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=9, frameon=False)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set(xscale="log", xlabel=f"mean fit time per dataset and seed (s, log scale, {device})",
           ylabel="mean image AUROC over datasets", title="Detection quality against training cost")
    fig.tight_layout()
    return fig


def maps_figure(s, example_maps, labels, seed):
    """One dataset's first defective test image, its mask and every method's map for it."""
    example = np.flatnonzero(s.labels == 1)[0]
    shown = [v for v in labels if (s.name, v) in example_maps]
    panels = [("input", s.test[example, 0], "gray"), ("true mask", s.masks[example] if s.masks is not None else None,
                                                       "gray")]
    panels += [(textwrap.fill(v, 24), example_maps[s.name, v], "inferno") for v in shown]   # fits a panel
    cols = 4        # 4 × 1.7 in at 100 dpi fits the 688-pixel column unscaled: titles stay legible
    fig, axes = plt.subplots(-(-len(panels) // cols), cols, figsize=(1.7 * cols, 2.1 * -(-len(panels) // cols)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, image, cmap) in zip(axes.flat, panels):
        ax.axis("on")
        ax.set(xticks=[], yticks=[])
        ax.grid(False)
        ax.set_title(title, fontsize=9)
        if image is None:
            ax.text(0.5, 0.5, "no mask", ha="center", va="center", transform=ax.transAxes)
            continue
        # a map is scaled to its own maximum; 1e-12 only keeps an all-zero map from a zero-width scale
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1.0 if cmap == "gray" else max(float(image.max()), 1e-12))
    fig.tight_layout()
    return fig, f"<b>{s.name}</b>: input, true mask and the anomaly map of each method (seed {seed})."


def verdict(auroc: Summary, cost: pd.DataFrame, n_seeds: int, device, results: pd.DataFrame) -> list[str]:
    """The chapter's answer in markdown lines, computed from the AUROC table, the costs and
    the models' health (``results``' ``health`` column): a claim resting on a model that is
    not healthy is marked inconclusive and says which model and why."""
    mean_auroc = auroc.mean.mean(axis=1)
    ranks = auroc.mean.rank(ascending=False, method="average").mean(axis=1)
    datasets = list(auroc.mean.columns)
    cells = trained_health(results)
    bad = _unhealthy(results, list(dict.fromkeys(cells.index.get_level_values("method"))))
    lines = [f"- **Model health**: {int(cells.isin(health.USABLE).sum())} of {len(cells)} trained "
             f"(model, dataset) pairs are healthy on every seed"
             + (f"; not healthy: {'; '.join(bad)}." if bad else ".")]
    best = mean_auroc.idxmax()
    lines.append(f"- **Best overall**: {best}, mean image AUROC {mean_auroc[best]:.3f} over {len(datasets)} "
                 f"datasets (mean rank {ranks[best]:.1f}).{_inconclusive(results, [best])}")
    families = (dict(zip(results.method, map(benchmark.family, results.detector, results.method)))
                if "detector" in results else benchmark.method_families())
    autoencoders = [v for v in auroc.mean.index if families.get(v) in AUTOENCODER_FAMILIES]
    baselines = [v for v in auroc.mean.index if v not in autoencoders]
    if not autoencoders:
        return lines
    best_ae = mean_auroc[autoencoders].idxmax()
    lines.append(f"- **Best autoencoder**: {best_ae}, mean image AUROC {mean_auroc[best_ae]:.3f}; it is the best "
                 f"autoencoder on {int((auroc.mean.loc[autoencoders].idxmax() == best_ae).sum())} of "
                 f"{len(datasets)} datasets.{_inconclusive(results, autoencoders)}")
    if baselines:
        other = mean_auroc[baselines].idxmax()
        gap = mean_auroc[best_ae] - mean_auroc[other]
        wins = int((auroc.mean.loc[best_ae] > auroc.mean.loc[other]).sum())
        lines.append(f"- **Autoencoders against the best method without one**: the best autoencoder is {abs(gap):.3f} "
                     f"{'above' if gap > 0 else 'below'} {other} ({mean_auroc[other]:.3f}, {families.get(other, 'no family')}) and beats it on "
                     f"{wins} of {len(datasets)} datasets.{_inconclusive(results, autoencoders)}")
    reconstruction_only = [v for v in autoencoders if families.get(v) == base.PIXEL_AE]     # no pretrained CNN involved
    if reconstruction_only:
        best_rec = mean_auroc[reconstruction_only].idxmax()
        line = (f"- **Pixel reconstruction error alone** (no pretrained CNN): the best is {best_rec}, mean image "
                f"AUROC {mean_auroc[best_rec]:.3f}")
        if "PCA residual (baseline)" in mean_auroc:
            pca = mean_auroc["PCA residual (baseline)"]
            line += (f"; the linear PCA residual reaches {pca:.3f}, so no reconstruction-based autoencoder beats "
                     f"a linear model on average here." if mean_auroc[best_rec] <= pca else
                     f", {mean_auroc[best_rec] - pca:.3f} above the linear PCA residual ({pca:.3f}).")
        line = line if line.endswith(".") else line + "."
        lines.append(line + _inconclusive(results, reconstruction_only))
    chance = [f"{d} ({auroc.mean.loc[autoencoders, d].max():.2f}"
              + (", inconclusive: a model on it is not healthy)" if _unhealthy(results, autoencoders, [d]) else ")")
              for d in datasets if auroc.mean.loc[autoencoders, d].max() < FAIL_AUROC]
    lines.append(f"- **Where every autoencoder fails** (best autoencoder AUROC below {FAIL_AUROC}): "
                 + (", ".join(chance) if chance else "nowhere in this run") + ".")
    if n_seeds > 1:
        spread = (auroc.mean.loc[autoencoders].max() - auroc.mean.loc[autoencoders].min()).median()
        noise = auroc.std.loc[autoencoders].median().median()
        lines.append(f"- **Variants vs seeds**: on a dataset the autoencoders span {spread:.3f} AUROC (median over "
                     f"datasets), while one method's seeds differ by a median standard deviation of {noise:.3f}"
                     + (" — the choice of variant matters more than the seed." if spread > SEED_NOISE_SDS * noise
                        else " — differences between variants are within the seed noise "
                             f"({SEED_NOISE_SDS} standard deviations)."))
    else:
        lines.append("- One seed only: seed noise not measured.")
    fastest = cost.loc[autoencoders, "fit_seconds"].idxmin()
    lines.append(f"- **Cost**: the cheapest autoencoder to train is {fastest} ({cost.loc[fastest, 'fit_seconds']:.1f} s "
                 f"per run on `{device}`); {best} took {cost.loc[best, 'fit_seconds']:.1f} s.")
    return lines


def without_nan(table: pd.DataFrame) -> list[dict]:
    """Rows as dicts with NaN (a metric that does not apply) as None: JSON has no NaN."""
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in table.to_dict(orient="records")]


def results_record(results: pd.DataFrame, auroc: Summary, cost: pd.DataFrame, seeds, methods, lines) -> dict:
    """What the chapter stores in its results.json (NaN, a metric that does not apply, as None)."""
    plain = lambda v: None if pd.isna(v) else float(v)  # noqa: E731
    return {"records": without_nan(results),
            "image_auroc_mean": {m: {d: plain(v) for d, v in row.items()}
                                 for m, row in auroc.mean.to_dict(orient="index").items()},
            "image_auroc_std": {m: {d: float(v) for d, v in row.items()}
                                for m, row in auroc.std.to_dict(orient="index").items()},
            "mean_auroc": {m: float(v) for m, v in auroc.mean.mean(axis=1).items()},
            "mean_rank": {m: float(v) for m, v in auroc.mean.rank(ascending=False).mean(axis=1).items()},
            "cost": without_nan(cost.reset_index()), "seeds": list(seeds),
            "methods": method_catalogue(methods).to_dict(orient="records"), "verdict": list(lines)}
