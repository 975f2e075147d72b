# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Cross-paper benchmark: every method on every dataset, one protocol
#
# Each of the five papers evaluates its own autoencoder on its own data, with its own
# metric, budget and baselines, so their numbers cannot be put side by side. This chapter
# does what none of them did: it runs **every method on every dataset under one protocol**,
# repeats each run over several seeds (mean ± standard deviation), and measures what each
# method costs. It answers the study's question directly: *do autoencoders work for defect
# detection, and which variant?*
#
# The methods are the re-implementations of the other chapters, called through one
# interface ({mod}`adlib.benchmark`), plus two baselines without an autoencoder: a k-NN on
# a pretrained CNN's features of the image itself (the "Deep Feature" baseline of
# {cite:t}`saeedi2023`) and a linear PCA residual. Every number in the text is computed by
# the run that produced this page.

# %% tags=["remove-cell"]
_names_before = set(globals())

# %% tags=["parameters"]
profile = "quick"
seed = 0                   # first seed; the runs use seed, seed + 1, ..., seed + n_seeds - 1
device = "auto"
data_root = None           # MVTec-layout categories found here are added to the embedded sets
results_dir = "book/generated"
datasets = ["brick", "gravel", "objects", "elpv_mono"]
methods = ["schneider_cae", "schneider_vae", "schneider_aae", "soukup_vae", "fadaeinejad_cae",
           "zhu_two_stage", "saeedi_cpcae", "deep_feature_knn", "pca"]
n_seeds = 3
image_size = 64            # every image is grey, image_size × image_size
n_train = 200              # defect-free training images per dataset
n_test = 30                # normal and (as many) defective test images per dataset
iterations = 200           # the same number of optimiser steps for every trained model
batch_size = 32
real_max_train = 200       # per MVTec-layout category from data_root
real_max_test_per_type = 10

# %% tags=["remove-cell"]
import adlib.params as P
from adlib import benchmark as B

params = P.check(globals(), _names_before, {
    "datasets": P.choices_list(*B.EMBEDDED),
    "methods": P.choices_list(*B.METHODS),
    "n_seeds": P.integer(1, 100),
    "image_size": P.integer(32, 512),
    "n_train": P.integer(2, 100_000),
    "n_test": P.integer(2, 100_000),
    "iterations": P.integer(1, 1_000_000),
    "batch_size": P.integer(1, 4096),
    "real_max_train": P.integer(2, 100_000),
    "real_max_test_per_type": P.integer(1, 100_000),
})
if image_size % 32:
    raise P.ParameterError(f"image_size={image_size} must be a multiple of 32 (Fadaeinejad's CAE halves it five times)")
if not methods:
    raise P.ParameterError("methods is empty: name at least one of " + ", ".join(B.METHODS))

# %% tags=["remove-cell"]
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display
from myst_nb import glue
from tqdm.auto import tqdm

from adlib import plots, runtime, training, widgets

plots.use_style()
data_root = P.resolve_data_root(data_root)
dev = runtime.select_device(device)
run = runtime.Run("benchmark_cross_paper", params, results_dir, dev)
seeds = list(range(seed, seed + n_seeds))
glue("ben_profile", profile, display=False)
glue("ben_device", str(dev), display=False)
glue("ben_n_seeds", n_seeds, display=False)
glue("ben_iterations", iterations, display=False)
glue("ben_batch_size", batch_size, display=False)
glue("ben_image_size", image_size, display=False)

# %% [markdown]
# ## The protocol
#
# - **Data.** Every dataset is reduced to grey {glue:text}`ben_image_size`-pixel images in
#   [0, 1]: defect-free training images, and a test split with normal and defective images
#   (exact pixel masks where the data have them). The embedded sets stand for four kinds of
#   inspection: a regular surface (brick), a stochastic one (gravel), single objects
#   (hazelnut-like) and real electroluminescence images of solar cells (ELPV); with
#   `ADLIB_DATA` every MVTec-layout category found there is added.
# - **Budget.** Every trained model gets {glue:text}`ben_iterations` optimiser steps at batch
#   size {glue:text}`ben_batch_size`, from the same seed; each method keeps the optimiser
#   its paper names (Adam at 10⁻³ where none is named). Nothing is tuned, for any method,
#   and no setting is chosen by looking at test labels.
# - **Score.** A method's own image score where its paper defines one (Zhu: MSE − λ·SSIM;
#   Saeedi: k-NN distance of the anomaly map's deep embedding; the baselines); otherwise
#   the maximum of its anomaly map after a 5×5 mean filter
#   ({func}`adlib.benchmark.image_score`), the same rule for all.
# - **Metrics.** Image AUROC (the headline), average precision, pixel AUROC where there are
#   masks and maps, fit time and scoring time per image on {glue:text}`ben_device`.
#   {glue:text}`ben_n_seeds` seeds per method and dataset.

# %% tags=["hide-input"]
with run.step("load data"):
    sets = B.embedded_sets(datasets, image_size, n_train, n_test, seed=seed)
    if data_root:
        sets += B.folder_sets(data_root, image_size, real_max_train, real_max_test_per_type)
for s in sets:
    run.add_dataset(s.name, source=s.source, train=len(s.train), test=len(s.test),
                    defective=int(s.labels.sum()), masks=s.masks is not None,
                    checksum=runtime.array_checksum(s.train, s.test))
overview = pd.DataFrame([{"dataset": s.name, "stands for": s.stands_for, "train": len(s.train),
                          "test normal": int((s.labels == 0).sum()), "test defective": int(s.labels.sum()),
                          "pixel masks": "yes" if s.masks is not None else "no", "source": s.source}
                         for s in sets])
display(overview.style.hide(axis="index").set_caption("The datasets of the benchmark"))

rows = []
for s in sets:
    normal, defective = np.flatnonzero(s.labels == 0)[0], np.flatnonzero(s.labels == 1)[0]
    rows.append([s.train[0], s.test[normal], s.test[defective],
                 plots.overlay(s.test[defective], s.masks[defective]) if s.masks is not None else None])
fig = plots.image_grid(rows, row_labels=[s.name.replace(" (", "\n(") for s in sets],
                       col_labels=["train", "test: normal", "test: defective", "mask"], cell=1.8)
glue("ben_fig_data", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} ben_fig_data
# :name: fig-ben-data
#
# One training image, one normal and one defective test image per dataset, and the
# defect's mask in red where the data have masks.
# ```
#
# ## The methods
#
# Each row is one trained model (or baseline); some give two scores from the same model.

# %% tags=["hide-input"]
method_objects = B.build_methods(methods)
score_rule = {"Two-stage RotNet AE (Zhu)": "MSE − λ·SSIM (their eq.)",
              "CPCAE (Saeedi)": "k-NN distance of the map's CNN embedding; and their AE (L2) score",
              "Deep-feature k-NN (baseline)": "k-NN distance of the image's CNN embedding",
              "PCA residual (baseline)": "squared PCA residual"}
catalogue = pd.DataFrame([{"method": m.name, "paper": m.paper or "–", "trained": "yes" if m.trained else "no",
                           "image score": score_rule.get(m.name, "max of the smoothed anomaly map"),
                           "settings": ", ".join(f"{k}={v}" for k, v in m.settings.items())}
                          for m in method_objects])
display(catalogue.style.hide(axis="index").set_caption("Methods (see each paper's chapter for the model)"))

# %% [markdown]
# CAE, VAE and AAE of {cite:t}`schneider2022` and the VAE of {cite:t}`soukup2018` are
# trained on 32-pixel crops and scored on overlapping tiles; the CAE of
# {cite:t}`fadaeinejad2023` on whole images; the two-stage model of {cite:t}`zhu2021` on
# images downsized to 32 pixels (its architecture's input); the CPCAE of {cite:t}`saeedi2023`
# on conditioned 16-pixel patches, its maps embedded by EfficientNet-Lite0 (the stand-in
# for their Xception, see the Saeedi chapter).
#
# ## Running it

# %%
records, example_maps = [], {}
jobs = [(s, k, m) for s in sets for k in seeds for m in method_objects]
for s, k, m in tqdm(jobs, desc="benchmark", disable=not training.show_progress()):
    with run.step(f"{s.name}: {m.name}"):
        recs, outputs = B.run_one(m, s, seed=k, iterations=iterations, batch_size=batch_size, device=dev)
    records += recs
    if k == seeds[0]:                     # keep the first seed's maps for the figure below
        example = np.flatnonzero(s.labels == 1)[0]
        for variant, out in outputs.items():
            if out.maps is not None:
                example_maps[s.name, variant] = out.maps[example]
results = pd.DataFrame(records)
dataset_order = [s.name for s in sets]
variant_order = list(dict.fromkeys(results.method))
glue("ben_n_runs", len(jobs), display=False)
glue("ben_wall_minutes", f"{sum(v for k, v in run.step_seconds.items() if k != 'load data') / 60:.1f}", display=False)


# %% tags=["remove-cell"]
def mean_std_table(metric: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(mean, std over seeds, 'mean ± std' strings) with methods as rows, datasets as columns."""
    grouped = results.groupby(["method", "dataset"])[metric]
    mean = grouped.mean().unstack().reindex(index=variant_order, columns=dataset_order)
    std = grouped.std(ddof=1).unstack().reindex(index=variant_order, columns=dataset_order).fillna(0.0)
    text = mean.map(lambda v: "–" if np.isnan(v) else f"{v:.3f}") + std.map(lambda v: f" ± {v:.3f}")
    text = text.where(mean.notna(), "–")
    return mean, std, text


auroc_mean, auroc_std, auroc_text = mean_std_table("image_auroc")
ranks = auroc_mean.rank(ascending=False, method="average")
summary = auroc_text.assign(**{"mean AUROC": auroc_mean.mean(axis=1).map("{:.3f}".format),
                               "mean rank": ranks.mean(axis=1).map("{:.1f}".format)})
summary = summary.loc[auroc_mean.mean(axis=1).sort_values(ascending=False).index]

# %% [markdown]
# ## Image AUROC
#
# {glue:text}`ben_n_runs` fits in {glue:text}`ben_wall_minutes` minutes. Rows are sorted by
# the mean over datasets; the rank is computed per dataset (1 = best) and averaged.

# %% tags=["hide-input"]
display(summary.style.set_caption(f"Image AUROC, mean ± std over {n_seeds} seed(s)"))

fig, ax = plt.subplots(figsize=(1.6 * len(dataset_order) + 4, 0.45 * len(variant_order) + 1.5))
sns.heatmap(auroc_mean.loc[summary.index], annot=True, fmt=".2f", vmin=0.3, vmax=1.0, cmap="viridis",
            cbar_kws={"label": "image AUROC (mean over seeds)"}, ax=ax)
ax.set_xlabel("dataset")
ax.set_ylabel("")
ax.set_title("Image AUROC per method and dataset (0.5 = chance)")
fig.tight_layout()
glue("ben_fig_heatmap", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} ben_fig_heatmap
# :name: fig-ben-heatmap
#
# Mean image AUROC over seeds of every method (rows, best mean first) on every dataset
# (columns). 0.5 is a random score.
# ```

# %% [markdown]
# ## Average precision and pixel AUROC
#
# Average precision takes the defective images as the positive class (half of each test
# split here, so a random score has AP ≈ 0.5); pixel AUROC asks whether the anomaly map
# points at the defect, for the methods that make maps, on the datasets that have masks.

# %% tags=["hide-input"]
_, _, ap_text = mean_std_table("image_ap")
display(ap_text.loc[summary.index].style.set_caption("Average precision, mean ± std over seeds"))
pixel_mean, _, pixel_text = mean_std_table("pixel_auroc")
has_pixels = pixel_mean.dropna(how="all").dropna(axis=1, how="all")
if has_pixels.empty:
    display(Markdown("*No dataset with masks in this run: no pixel AUROC.*"))
else:
    display(pixel_text.loc[has_pixels.index, has_pixels.columns].style
            .set_caption("Pixel AUROC on the defective test images, mean ± std over seeds"))

# %% [markdown]
# ## What each method costs
#
# Fit time includes everything a method needs before scoring (for the k-NN methods, the
# embedding of the training images). Times are from this run's device and are comparable
# between methods of this page only.

# %% tags=["hide-input"]
cost = (results.groupby("method")[["fit_seconds", "score_ms_per_image"]].mean()
        .join(auroc_mean.mean(axis=1).rename("mean AUROC")).loc[summary.index])
display(cost.style.format({"fit_seconds": "{:.1f} s", "score_ms_per_image": "{:.2f} ms", "mean AUROC": "{:.3f}"})
        .set_caption(f"Mean fit time and scoring time per image ({dev}), and mean image AUROC"))
fig, ax = plt.subplots(figsize=(9, 4.5))
points = cost.assign(fit=cost.fit_seconds.clip(lower=1e-2)).reset_index()   # log axis: PCA's ~0 s shown at 0.01
sns.scatterplot(data=points, x="fit", y="mean AUROC", hue="method", style="method", s=80, ax=ax)
ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7, frameon=False)
ax.set_xscale("log")
ax.axhline(0.5, color="grey", lw=0.8, ls="--")
ax.set_xlabel(f"mean fit time per dataset and seed (s, log scale, {dev})")
ax.set_ylabel("mean image AUROC over datasets")
ax.set_title("Detection quality against training cost")
fig.tight_layout()
glue("ben_fig_cost", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} ben_fig_cost
# :name: fig-ben-cost
#
# Mean image AUROC over the datasets against the mean fit time per run (log scale; a fit
# under 0.01 s is drawn at 0.01 s); the dashed line is chance. Methods sharing a model
# (Soukup's two scores, Saeedi's two) share its fit time.
# ```
#
# ## Where the maps point
#
# The slider picks a dataset; each frame shows its first defective test image, the true
# mask and every method's anomaly map for it (first seed; each map scaled to its own
# maximum). It switches between precomputed frames, so it works on the static page.

# %% tags=["hide-input"]
map_variants = [v for v in variant_order if any((s.name, v) in example_maps for s in sets)]


def render_maps(name):
    s = next(x for x in sets if x.name == name)
    example = np.flatnonzero(s.labels == 1)[0]
    shown = [v for v in map_variants if (name, v) in example_maps]
    panels = [("input", s.test[example, 0], "gray"),
              ("true mask", s.masks[example] if s.masks is not None else None, "gray")]
    panels += [(v.replace(" (", "\n("), example_maps[name, v], "inferno") for v in shown]
    cols = 6
    rows_ = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(1.9 * cols, 2.2 * rows_), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
        ax.axis("off")
    for ax, (title, image, cmap) in zip(axes.flat, panels):
        ax.axis("on")
        ax.set_title(title, fontsize=7)
        if image is None:
            ax.text(0.5, 0.5, "no mask", ha="center", va="center", transform=ax.transAxes)
            continue
        top = 1.0 if cmap == "gray" else max(float(image.max()), 1e-12)
        ax.imshow(image, cmap=cmap, vmin=0, vmax=top)
    fig.tight_layout()
    return fig, f"<b>{name}</b>: input, true mask and the anomaly map of each method (seed {seeds[0]})."


if map_variants:
    display(widgets.precomputed_slider("dataset", dataset_order, render_maps, fmt="{}"))

# %% [markdown]
# ## Verdict

# %% tags=["remove-cell"]
BASELINES = {"Deep-feature k-NN (baseline)", "PCA residual (baseline)"}
mean_auroc = auroc_mean.mean(axis=1)
autoencoders = [v for v in variant_order if v not in BASELINES]
lines = []
best = mean_auroc.idxmax()
lines.append(f"- **Best overall**: {best}, mean image AUROC {mean_auroc[best]:.3f} over "
             f"{len(dataset_order)} datasets (mean rank {ranks.mean(axis=1)[best]:.1f}).")
if autoencoders:
    best_ae = mean_auroc[autoencoders].idxmax()
    ae_line = (f"- **Best autoencoder**: {best_ae}, mean image AUROC {mean_auroc[best_ae]:.3f}; it is the best "
               f"autoencoder on {int((auroc_mean.loc[autoencoders].idxmax() == best_ae).sum())} of "
               f"{len(dataset_order)} datasets.")
    lines.append(ae_line)
    present = [b for b in BASELINES if b in mean_auroc]
    if present:
        best_base = mean_auroc[present].idxmax()
        gap = mean_auroc[best_ae] - mean_auroc[best_base]
        wins = int((auroc_mean.loc[best_ae] > auroc_mean.loc[best_base]).sum())
        lines.append(f"- **Autoencoders against a baseline without one**: the best autoencoder is "
                     f"{abs(gap):.3f} {'above' if gap > 0 else 'below'} {best_base} "
                     f"({mean_auroc[best_base]:.3f}) and beats it on {wins} of {len(dataset_order)} datasets.")
    reconstruction_only = [v for v in autoencoders if "k-NN" not in v]   # no pretrained CNN involved
    if reconstruction_only:
        best_rec = mean_auroc[reconstruction_only].idxmax()
        line = (f"- **Reconstruction error alone** (no pretrained CNN): the best is {best_rec}, mean image "
                f"AUROC {mean_auroc[best_rec]:.3f}")
        if "PCA residual (baseline)" in mean_auroc:
            pca_mean = mean_auroc["PCA residual (baseline)"]
            line += (f"; the linear PCA residual reaches {pca_mean:.3f}, so no reconstruction-based autoencoder "
                     f"beats a linear model on average here." if mean_auroc[best_rec] <= pca_mean else
                     f", {mean_auroc[best_rec] - pca_mean:.3f} above the linear PCA residual ({pca_mean:.3f}).")
        lines.append(line)
    chance = [f"{d} ({auroc_mean.loc[autoencoders, d].max():.2f})" for d in dataset_order
              if auroc_mean.loc[autoencoders, d].max() < 0.6]
    lines.append("- **Where every autoencoder fails** (best autoencoder AUROC below 0.6): "
                 + (", ".join(chance) if chance else "nowhere in this run") + ".")
    spread = auroc_mean.loc[autoencoders].max() - auroc_mean.loc[autoencoders].min()
    noise = auroc_std.loc[autoencoders].median().median() if n_seeds > 1 else float("nan")
    lines.append(f"- **Variants vs seeds**: on a dataset the autoencoders span {spread.median():.3f} AUROC "
                 f"(median over datasets), while one method's seeds differ by a median standard deviation of "
                 f"{noise:.3f}" + (" — the choice of variant matters more than the seed." if spread.median() > 2 * noise
                                   else " — differences between variants are within the seed noise.")
                 if n_seeds > 1 else "- One seed only: seed noise not measured.")
    fastest = cost.loc[autoencoders, "fit_seconds"].idxmin()
    lines.append(f"- **Cost**: the cheapest autoencoder to train is {fastest} "
                 f"({cost.loc[fastest, 'fit_seconds']:.1f} s per run on `{dev}`); {best} took "
                 f"{cost.loc[best, 'fit_seconds']:.1f} s.")

# %% tags=["hide-input"]
display(Markdown("\n".join(lines)))

# %% [markdown]
# **How far to trust this page.** It comes from the {glue:text}`ben_profile` profile: every
# trained model had only {glue:text}`ben_iterations` optimiser steps, small images and
# a few dozen test images per dataset, so the autoencoders are under-trained compared with
# their papers, and an AUROC difference smaller than about two standard deviations of the
# seeds is not a finding. The `paper` profile (for a GPU) trains every model for many more
# steps, on more data and seeds. The pretrained CNN of the k-NN methods brings ImageNet
# knowledge that no autoencoder here has; that is the point of the comparison, not an
# unfairness: it is the cheapest strong alternative a practitioner has.
#
# **Deviations from the papers.** All images are grey and small, so every model is
# rebuilt for {glue:text}`ben_image_size`-pixel inputs (Schneider's and Soukup's models for
# 32-pixel crops, Zhu's for 32-pixel images); no method is tuned per dataset; each paper's
# own data, budget and scoring choices are in its chapter, where the published numbers are
# compared with ours.

# %% tags=["remove-cell"]
def without_nan(table: pd.DataFrame) -> list[dict]:
    """Rows as dicts with NaN (a metric that does not apply) as None: JSON has no NaN."""
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in table.to_dict(orient="records")]


run.results["records"] = without_nan(results)
run.results["image_auroc_mean"] = {m: {d: (None if np.isnan(v) else float(v)) for d, v in row.items()}
                                   for m, row in auroc_mean.to_dict(orient="index").items()}
run.results["image_auroc_std"] = {m: {d: float(v) for d, v in row.items()}
                                  for m, row in auroc_std.to_dict(orient="index").items()}
run.results["mean_auroc"] = {m: float(v) for m, v in mean_auroc.items()}
run.results["mean_rank"] = {m: float(v) for m, v in ranks.mean(axis=1).items()}
run.results["cost"] = without_nan(cost.reset_index())
run.results["seeds"] = seeds
run.results["methods"] = [{"name": m.name, "paper": m.paper, "trained": m.trained, "settings": m.settings}
                          for m in method_objects]
run.results["verdict"] = lines
print("results written to", run.save())
