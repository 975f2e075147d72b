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
# The methods are the re-implementations of the other chapters: the very detectors their
# chapters fit and score ({mod}`adlib.detectors`), here under one protocol
# ({mod}`adlib.benchmark`), plus two baselines without an autoencoder: a k-NN on
# a pretrained CNN's features of the image itself (the "Deep Feature" baseline of
# {cite:t}`saeedi2022`) and a linear PCA residual. Every number in the text is computed by
# the run that produced this page.

# %% tags=["remove-cell"]
_names_before = set(globals())

# %% tags=["parameters"]
profile = "quick"
seed = 0                   # first seed; the runs use seed, seed + 1, ..., seed + n_seeds - 1
device = "auto"
deterministic = False      # reproducible kernels (slower on a GPU); on in the paper profile
data_root = None           # MVTec-layout categories found here are added to the embedded sets
results_dir = "book/generated"
datasets = ["brick", "gravel", "objects", "elpv_mono"]
methods = None             # None: every benchmark method (adlib.benchmark.METHODS); or a list of them
n_seeds = 3
image_size = 64            # every image is grey, image_size × image_size
n_train = 200              # defect-free training images per dataset
n_test = 30                # normal and (as many) defective test images per dataset
iterations = 200           # optimiser steps of every trained model (with until_converged: the cap)
until_converged = False    # train each model until its held-out error stops improving, at most `iterations` steps
batch_size = 32
real_max_train = 200       # per MVTec-layout category from data_root
real_max_test_per_type = 10
executor = "serial"        # "serial", "processes" (local pool), "local" (Dask LocalCluster) or tcp://host:8786
jobs_dir = "book/generated/benchmark_jobs"   # one JSON per finished job: a re-run reads, an interrupted grid resumes

# %% tags=["remove-cell"]
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from adlib import benchmark, chapter, params, references, runtime, tables, widgets
from adlib.papers import cross_paper

ch = chapter.setup("benchmark_cross_paper", globals(), _names_before, {
    "datasets": params.choices_list(*benchmark.EMBEDDED),
    "methods": params.choices_list(*benchmark.METHODS, optional=True),
    "n_seeds": params.integer(1, 100),
    "image_size": params.integer(32, 512),
    "n_train": params.integer(2, 100_000),
    "n_test": params.integer(2, 100_000),
    "iterations": params.integer(1, 1_000_000),
    "until_converged": params.flag(),
    "batch_size": params.integer(1, 4096),
    "real_max_train": params.integer(2, 100_000),
    "real_max_test_per_type": params.integer(1, 100_000),
    "executor": params.text(doc="serial, processes, local or a Dask scheduler address"),
    "jobs_dir": params.text(),
})
methods = list(benchmark.METHODS) if methods is None else methods
if not methods:
    raise params.ParameterError("methods is empty: name at least one of " + ", ".join(benchmark.METHODS))
seeds = list(range(seed, seed + n_seeds))
ch.glue(n_seeds=n_seeds, iterations=iterations, batch_size=batch_size, image_size=image_size,
        budget=(f"trains until its error on a held-out tenth of its training images stops improving (a warm-up, "
                f"learning-rate cuts on plateaus, at most {iterations} optimiser steps; "
                "adlib.training.Convergence)" if until_converged else f"gets {iterations} optimiser steps"))

# %% [markdown]
# ## The protocol
#
# - **Data.** Every dataset is reduced to grey {glue:text}`ben_image_size`-pixel images in
#   [0, 1]: defect-free training images, and a test split with normal and defective images
#   (exact pixel masks where the data have them). The embedded sets stand for four kinds of
#   inspection: a regular surface (brick), a stochastic one (gravel), single objects
#   (hazelnut-like) and real electroluminescence images of solar cells (ELPV); with
#   `ADLIB_DATA` every MVTec-layout category found there is added.
# - **Budget.** Every trained model {glue:text}`ben_budget`, at batch size
#   {glue:text}`ben_batch_size`, from the same seed; each method keeps the optimiser
#   its paper names (Adam at 10⁻³ where none is named), except two learning rates that the
#   chapters chose on held-out normal images because the named ones did not train in this
#   budget (Fadaeinejad's CAE, Zhu's decoders; the method table shows every setting). No
#   setting is chosen by looking at test labels.
# - **Score.** Every method is a detector of {mod}`adlib.detectors`, the same object its
#   paper's chapter uses, and keeps the one image score it documents: its paper's score where
#   the paper defines one (Zhu: MSE − λ·SSIM; Saeedi: k-NN distance of the anomaly map's deep
#   embedding; Soukup: the worst patch's loss; the baselines), otherwise the maximum of its
#   anomaly map after a 5×5 mean filter ({func}`adlib.detectors.smoothed_max`), so a single
#   noisy pixel cannot decide. The table below names each method's score.
# - **Metrics** ({mod}`adlib.metrics`, the MVTec AD and anomalib definitions). Image AUROC
#   (the headline), average precision and F1-max (the best F1 over thresholds); where there
#   are masks and maps, pixel AUROC over every pixel of every test image and AUPRO (the
#   per-region overlap up to a false-positive rate of 0.3, normalised); fit time and scoring
#   time per image on {glue:text}`ben_device`.
#   {glue:text}`ben_n_seeds` seeds per method and dataset.

# %% tags=["hide-input"]
with ch.run.step("load data"):
    sets = benchmark.embedded_sets(datasets, image_size, n_train, n_test, seed=seed)
    if ch.data_root:
        sets += benchmark.folder_sets(ch.data_root, image_size, real_max_train, real_max_test_per_type)
for s in sets:
    ch.run.add_dataset(s.name, source=s.source, train=len(s.train), test=len(s.test),
                       defective=int(s.labels.sum()), masks=s.masks is not None,
                       checksum=runtime.array_checksum(s.train, s.test))
display(cross_paper.dataset_table(sets).style.hide(axis="index").set_caption("The datasets of the benchmark"))
ch.glue(fig_data=cross_paper.data_figure(sets))
plt.close("all")

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
display(cross_paper.method_catalogue(methods).style.hide(axis="index")
        .set_caption("Methods: detectors of adlib.detectors (see each paper's chapter for the model)"))

# %% [markdown]
# CAE, VAE and AAE of {cite:t}`schneider2022` and the VAE of {cite:t}`soukup2018` are
# trained on 32-pixel crops and scored on overlapping tiles; the CAE of
# {cite:t}`fadaeinejad2021` on whole images; the two-stage model of {cite:t}`zhu2021` on
# images downsized to 32 pixels (its architecture's input); the CPCAE of {cite:t}`saeedi2022`
# on conditioned 16-pixel patches, its maps embedded by EfficientNet-Lite0 (the stand-in
# for their Xception, see the Saeedi chapter).
#
# ## Running it
#
# The grid is a list of jobs, one per (method, dataset, seed) ({mod}`adlib.grid`): each job
# builds its dataset, fits, health-checks and scores, and its records are stored as one
# JSON file named by a hash of its spec (method and settings, data, seed, budget and a hash
# of adlib's code). An interrupted grid resumes where it stopped, a re-render reads the
# stored jobs, and a change re-runs only the jobs it touches. The jobs ran on the
# {glue:text}`ben_executor` executor; `executor = "processes"` uses a local process pool (one
# worker per GPU), a Dask scheduler address (`tcp://host:8786`) a Dask cluster, where each GPU
# job asks for one `GPU` resource (see {doc}`the reproducibility page <../reproducibility>`). A job that fails is reported
# at once; the others go on, and the cells it leaves empty are listed here.

# %%
jobs = cross_paper.grid_jobs(sets, datasets, methods, seeds, image_size=image_size, n_train=n_train, n_test=n_test,
                             data_seed=seed, real_max_train=real_max_train,
                             real_max_test_per_type=real_max_test_per_type,
                             iterations=iterations, batch_size=batch_size, device=ch.device,
                             until_converged=until_converged)
results, example_maps, failed, test_scores = cross_paper.run_all(jobs, jobs_dir, executor=executor, run=ch.run)
if not len(results):
    raise RuntimeError(f"every one of the {len(jobs)} benchmark jobs failed; see the tracebacks above")
auroc = cross_paper.summarise(results, "image_auroc")
summary = cross_paper.ranking(auroc)
exam = cross_paper.exam(results, test_scores)

# %% tags=["hide-input"]
if failed:
    display(Markdown(f"**{len(failed)} of {len(jobs)} jobs failed**; these cells of the grid are missing below "
                     "(each failure's spec and traceback were printed when it happened):"))
    display(cross_paper.missing_cells(failed).style.hide(axis="index"))
cells = cross_paper.trained_health(results)
ch.glue(executor=executor, n_runs=len(jobs) - len(failed), health_percent=f"{benchmark.HEALTH_FRACTION:.0%}",
        healthy_cells=int(cells.eq("healthy").sum()), trained_cells=len(cells),
        wall_minutes=f"{sum(v for k, v in ch.run.step_seconds.items() if k != 'load data') / 60:.1f}")

# %% [markdown]
# ## Did every model learn?
#
# Before any AUROC counts, each trained model is checked on the
# {glue:text}`ben_health_percent` of its training images that it never saw, all of them
# normal ({mod}`adlib.health`): it must reconstruct them clearly better than the mean training
# image does, its outputs must follow its inputs (not draw the same image for every input),
# and its training loss must have flattened without blowing up. The table gives the worst
# status over the seeds; the per-run numbers are in the chapter's `results.json` under
# `health`. {glue:text}`ben_healthy_cells` of {glue:text}`ben_trained_cells` trained
# (model, dataset) pairs are healthy on every seed; the verdict marks every claim that rests
# on the others as inconclusive.

# %% tags=["hide-input"]
display(cross_paper.health_matrix(results).style
        .map(lambda v: "" if v in ("healthy", "not trained") else "color: #b00020; font-weight: bold")
        .set_caption("Health of each model per dataset (worst over seeds); held-out normal images only"))

# %% [markdown]
# ## Image AUROC
#
# {glue:text}`ben_n_runs` fits in {glue:text}`ben_wall_minutes` minutes. Rows are sorted by
# the mean over datasets; the rank is computed per dataset (1 = best) and averaged. A mean
# AUROC below 0.5 is marked *inverted* (the score ranks normal images above defective ones),
# with 1 − AUROC beside it; "± –" means one seed, so no spread.

# %% tags=["hide-input"]
display(summary.style.set_caption(f"Image AUROC, mean ± std over {n_seeds} seed(s)"))
ch.glue(fig_heatmap=cross_paper.heatmap(auroc, summary.index))
plt.close("all")

# %% [markdown]
# ```{glue:figure} ben_fig_heatmap
# :name: fig-ben-heatmap
#
# Mean image AUROC over seeds of every method (rows, best mean first) on every dataset
# (columns). 0.5 is a random score.
# ```
#
# ## One exam: the ranking that counts
#
# The table above averages each method over whatever it scored, so a method whose models
# failed on a hard dataset would look better than one that sat every cell. The exam compares
# methods on the same cells only: a method's mean over every (dataset, seed) cell of the grid
# is given only when its model is usable on every cell, else it is *not comparable* (with how
# many cells failed). Each mean has a 95 % interval from a paired bootstrap over the test
# images of every dataset and over the seeds, and each comparable method's difference to the
# best one has its own: a method *differs from the best* only when that interval excludes 0.

# %% tags=["hide-input"]
display(cross_paper.exam_text(exam).style.hide(axis="index")
        .set_caption("The exam: mean image AUROC over the same cells, 95 % paired-bootstrap intervals"))

# %% [markdown]
# ## Average precision, F1-max, pixel AUROC and AUPRO
#
# Average precision takes the defective images as the positive class (about half of each
# embedded test split, so a random score has AP ≈ 0.5); F1-max is the F1 at the best
# threshold (a threshold chosen with the test labels: an upper bound, as in every MVTec AD
# table). Pixel AUROC and AUPRO ask whether the anomaly map points at the defect, for the
# methods that make maps, on the datasets that have masks: pixel AUROC over every test
# pixel, AUPRO averaging the overlap over defect regions so that small defects count as
# much as large ones. A model's extra scores (Soukup's latent loss, Saeedi's L2 score) share
# its map, so that map's numbers appear once, on the model's own row.

# %% tags=["hide-input"]
display(cross_paper.summarise(results, "image_ap").text.loc[summary.index].style
        .set_caption("Average precision, mean ± std over seeds"))
display(cross_paper.summarise(results, "f1_max").text.loc[summary.index].style
        .set_caption("Image F1-max, mean ± std over seeds"))
for metric, caption in (("pixel_auroc", "Pixel AUROC over every test pixel"), ("aupro", "AUPRO (FPR ≤ 0.3)")):
    pixel = cross_paper.summarise(results, metric)
    has_pixels = pixel.mean.dropna(how="all").dropna(axis=1, how="all")
    if has_pixels.empty:
        display(Markdown(f"*No dataset with masks in this run: no {caption.split(' (')[0]}.*"))
    else:
        display(pixel.text.loc[has_pixels.index, has_pixels.columns].style
                .set_caption(f"{caption}, mean ± std over seeds"))

# %% [markdown]
# ## Real data: MVTec AD tables and outside references
#
# On each MVTec-layout category of the run (from `data_root` / `ADLIB_DATA`), every method's
# mean over seeds in the layout of an MVTec AD table, with the worst health of its model over
# the seeds, and below them anomalib's PatchCore, PaDiM and GANomaly on the same category
# ({mod}`adlib.references`: anomalib's own single runs, at their image size and in colour;
# ours are grey and {glue:text}`ben_image_size` pixels, under this build's budget).

# %% tags=["hide-input"]
mvtec = cross_paper.mvtec_records(results, sets)
for name in dict.fromkeys(r["category"] for r in mvtec):
    display(references.styled(references.comparison_table(mvtec, name, source="benchmark"),
                              f"{name}: mean over seeds (ours) and outside references"))
if not mvtec:
    display(Markdown("*This build had no real data (no MVTec-layout folder under `data_root` / "
                     "`ADLIB_DATA`): the benchmark ran on the embedded sets only.*"))

# %% [markdown]
# ## What each method costs
#
# Fit time includes everything a method needs before scoring (for the k-NN methods, the
# embedding of the training images). Times are from this run's device and are comparable
# between methods of this page only.

# %% tags=["hide-input"]
cost = cross_paper.cost_table(results, auroc)
display(tables.styled(cost, index=True,
                      caption=f"Mean fit time and scoring time per image ({ch.device}), and mean image AUROC"))
ch.glue(fig_cost=cross_paper.cost_figure(cost, ch.device))
plt.close("all")

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
labels = list(dict.fromkeys(results.method))
if example_maps:
    display(widgets.precomputed_slider("dataset", [s.name for s in sets],
                                       lambda name: cross_paper.maps_figure(next(s for s in sets if s.name == name),
                                                                            example_maps, labels, seeds[0]), fmt="{}"))

# %% [markdown]
# ## Verdict

# %% tags=["hide-input"]
lines = cross_paper.verdict(auroc, cost, n_seeds, ch.device, results)
display(Markdown("\n".join(lines)))

# %% [markdown]
# **How far to trust this page.** It comes from the {glue:text}`ben_profile` profile: every
# trained model had {glue:text}`ben_iterations` optimiser steps, small images and a few dozen
# test images per dataset. The health table above says which models learnt in that budget
# ({glue:text}`ben_healthy_cells` of {glue:text}`ben_trained_cells` pairs); every verdict line
# that compares a model that did not is marked inconclusive, and its AUROC says more about the
# budget than about the method. The quick profile spends its CPU minutes on steps rather
# than seeds and datasets (a stochastic texture, the plain weave and several seeds run in
# the `paper` profile, for a GPU); with one seed, an AUROC difference of a few hundredths is
# not a finding. The pretrained CNN of the k-NN methods brings ImageNet knowledge that no
# autoencoder here has; that is the point of the comparison, not an unfairness: it is the
# cheapest strong alternative a practitioner has.
#
# **This page and the chapters.** Each method here is the detector object its chapter
# uses, so the same detector, data and budget give the same number in both. The protocols
# differ, though: here every image is grey and {glue:text}`ben_image_size` pixels wide, every
# model gets the same steps, a tenth of the training images is held out for the health check
# and the test splits are small; a chapter follows its paper's data, sizes and budget. The
# {doc}`results overview <results>` puts this build's chapter and benchmark numbers of the
# same detector side by side (section *Chapters and the benchmark*), with both protocols'
# parameters and the difference.
#
# **Deviations from the papers.** All images are grey and small, so every model is
# rebuilt for {glue:text}`ben_image_size`-pixel inputs (Schneider's and Soukup's models for
# 32-pixel crops, Zhu's for 32-pixel images); no method is tuned per dataset; each paper's
# own data, budget and scoring choices are in its chapter, where the published numbers are
# compared with ours.

# %% tags=["remove-cell"]
ch.run.results.update(cross_paper.results_record(results, auroc, cost, seeds, methods, lines), mvtec_metrics=mvtec,
                      exam=cross_paper.without_nan(exam.assign(interval=exam.interval.map(
                          lambda v: None if v is None else list(v)))))
print("results written to", ch.run.save())
