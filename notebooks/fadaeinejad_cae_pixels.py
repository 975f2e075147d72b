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
# # Fadaeinejad: a convolutional autoencoder with pixel thresholding
#
# *Anomaly Detection in Images using Deep Encoder-Decoder Models* {cite}`fadaeinejad2023`
# trains one convolutional autoencoder (CAE) on defect-free MVTec AD *hazelnut* images
# {cite}`bergmann2019mvtec` and marks as defective every pixel whose reconstruction error
# exceeds a threshold τ (their Algorithm 1). It reports pixel precision, recall and F1 per
# defect type (crack, cut, hole, print; their Table 3) and discusses two choices:
#
# 1. **the threshold τ** (their §7.1, Figs 13–14): too high misses defective pixels, too
#    low flags defect-free ones, and F1 drops on both sides; they use τ = 0.2 (0.25 for
#    hole);
# 2. **the latent size** (their §7.2; 500 in their model): too small cannot reproduce small
#    details and flags normal pixels, too large reproduces the defects as well and misses
#    them.
#
# This chapter re-implements the model ({mod}`adlib.models.fadaeinejad`), re-runs the
# experiments and checks both claims with our own numbers. Every number in the text is
# computed by the run that produced this page.

# %% tags=["remove-cell"]
_names_before = set(globals())

# %% tags=["parameters"]
profile = "quick"
seed = 0
device = "auto"
data_root = None
results_dir = "book/generated"
category = None            # MVTec-layout category under data_root (default: hazelnut, else the first)
image_size = 128           # side of the model input; a multiple of 32 (paper: 256)
n_train = 60               # synthetic good training objects (hazelnut: 390)
augmented_size = 300       # training images after augmentation (paper: about 2,000)
noise_std = 0.02           # augmentation noise
n_test_good = 4            # synthetic good test objects
n_test_per_defect = 6      # synthetic test objects per defect type
n_val_per_defect = 4       # images per defect type used only to choose τ (never the test images)
iterations = 600
batch_size = 8
lr = 1e-3
latent = 500
latent_sizes = [16, 500, 2000]
tau_grid_step = 0.02       # τ sweep from tau_grid_step to 0.7
slider_step = 0.05         # τ step between the slider's precomputed frames
real_max_train = 400
real_max_test_per_type = 40

# %% tags=["remove-cell"]
import adlib.params as P

params = P.check(globals(), _names_before, {
    "category": P.text(optional=True),
    "image_size": P.integer(32, 1024),
    "n_train": P.integer(1, 100_000),
    "augmented_size": P.integer(1, 1_000_000),
    "noise_std": P.number(0.0, 0.5),
    "n_test_good": P.integer(0, 10_000),
    "n_test_per_defect": P.integer(1, 10_000),
    "n_val_per_defect": P.integer(1, 10_000),
    "iterations": P.integer(1, 1_000_000),
    "batch_size": P.integer(1, 4096),
    "lr": P.number(1e-6, 1.0),
    "latent": P.integer(1, 100_000),
    "latent_sizes": P.Spec((list, tuple)),
    "tau_grid_step": P.number(0.001, 0.2),
    "slider_step": P.number(0.01, 0.35),
    "real_max_train": P.integer(1, 100_000),
    "real_max_test_per_type": P.integer(2, 100_000),
})
if image_size % 32:
    raise P.ParameterError(f"image_size={image_size} must be a multiple of 32 (the CAE halves it five times)")
if augmented_size < n_train and data_root is None:
    raise P.ParameterError(f"augmented_size={augmented_size} must be at least n_train={n_train}")
if not latent_sizes or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in latent_sizes):
    raise P.ParameterError(f"latent_sizes={latent_sizes!r} must be a non-empty list of positive integers")

# %% tags=["remove-cell"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display
from myst_nb import glue

from adlib import plots, runtime, widgets
from adlib.data import folders, objects
from adlib.models import fadaeinejad as F

plots.use_style()
data_root = P.resolve_data_root(data_root)
dev = runtime.select_device(device)
run = runtime.Run("fadaeinejad_cae_pixels", params, results_dir, dev)
glue("fad_device", str(dev), display=False)
glue("fad_profile", profile, display=False)
glue("fad_iterations", iterations, display=False)
glue("fad_image_size", image_size, display=False)
glue("fad_latent", latent, display=False)
TAUS = np.round(np.arange(tau_grid_step, 0.7 + 1e-9, tau_grid_step), 4)

# %% [markdown]
# ## Data
#
# The paper trains on the 390 good hazelnut training images, augmented to about 2,000 by
# rotations, flips and added noise, and tests on the defective hazelnuts with their masks.
# **Unless a real MVTec-layout folder is given (parameter `data_root` or the `ADLIB_DATA`
# environment variable), this chapter uses synthetic data**: hazelnut-like objects
# rendered by {mod}`adlib.data.objects`: one textured, roughly round object on a plain dark
# background whose outline, size, position, rotation, colour and surface texture vary from
# image to image, with four defect types imitating hazelnut's (a dark branching *crack*, a
# *cut* notched in from the outline showing the light kernel, a dark round *hole*, and
# printed letters, *print*), each with its exact mask. This build used:
# **{glue:text}`fad_data_source`**.
#
# A few defective images of each type are held out as a **validation split**
# ({glue:text}`fad_n_val` images in all): the "best τ" below is chosen on them, never on the
# test images it is reported on.

# %%
with run.step("data"):
    if data_root:
        found = folders.find_mvtec_categories(data_root)
        if not found:
            raise folders.DataLayoutError(f"data_root {data_root} holds no MVTec-layout category; "
                                          f"expected {folders.MVTEC_LAYOUT}")
        by_name = {p.name: p for p in found}
        if category is not None and category not in by_name:
            raise P.ParameterError(f"category={category!r} is not under {data_root}; found "
                                   f"{', '.join(sorted(by_name))}")
        chosen = by_name[category] if category else by_name.get("hazelnut", found[0])
        data = objects.load_category_with_masks(chosen, size=image_size, max_train=real_max_train,
                                                max_test_per_type=real_max_test_per_type)
        source = f"real data, MVTec-layout category '{data.name}' from {chosen}"
        run.add_dataset(f"mvtec:{data.name}", path=str(chosen), train=len(data.train),
                        test=len(data.test), resized_to=image_size,
                        checksum=runtime.array_checksum(data.train, data.test, data.masks))
    else:
        data = objects.hazelnut_like(n_train=n_train, n_test_good=n_test_good,
                                     n_test_per_defect=n_test_per_defect + n_val_per_defect,
                                     size=image_size, seed=seed)
        source = "synthetic hazelnut-like objects (adlib.data.objects), not MVTec AD"
        run.add_dataset("hazelnut_like", generator="adlib.data.objects.hazelnut_like", size=image_size,
                        train=len(data.train), test=len(data.test),
                        checksum=runtime.array_checksum(data.train, data.test, data.masks))
    types = np.array(data.defect_types)
    DEFECTS = [t for t in dict.fromkeys(data.defect_types) if t != "good"]
    val_idx, test_idx = objects.calibration_split(types, n_val_per_defect)
    if not len(val_idx):
        raise folders.DataLayoutError(f"{data.root}: too few defective images to hold out a validation "
                                      f"split (need at least 2 per defect type)")

glue("fad_data_source", source, display=False)
glue("fad_n_train", len(data.train), display=False)
glue("fad_n_val", int(len(val_idx)), display=False)
glue("fad_n_test", int(len(test_idx)), display=False)
counts = pd.DataFrame({"validation": pd.Series(types[val_idx]).value_counts(),
                       "test": pd.Series(types[test_idx]).value_counts()}).fillna(0).astype(int)
display(counts.T)

example = [int(np.flatnonzero(types[test_idx] == d)[0]) for d in DEFECTS]     # first test image per type
example = [int(test_idx[i]) for i in example]
rows = [[data.train[i] for i in range(min(len(DEFECTS), len(data.train)))],
        [data.test[i] for i in example],
        [plots.overlay(data.test[i], data.masks[i]) for i in example]]
fig = plots.image_grid(rows, row_labels=["good (train)", "defective", "mask"], col_labels=DEFECTS, cell=2.0)
glue("fad_fig_data", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fad_fig_data
# :name: fig-fad-data
#
# Training images (top), one test image of each defect type (middle) and its ground-truth
# mask in red (bottom); compare their Fig 3.
# ```
#
# ## The model: their Tables 1 and 2
#
# Encoder (their Table 1): ten convolutions, each followed by BatchNorm (momentum 0.1,
# ε = 10⁻⁶) and LeakyReLU (slope 0.01), except the last, a K×K convolution to a 1×1 code of
# {glue:text}`fad_latent` channels followed by BatchNorm only. For the paper's 256-pixel
# inputs K = 8; for other sizes (a multiple of 32) we use K = size/32 so the code stays
# 1×1. The decoder ends with a sigmoid.
#
# **Their decoder table does not chain.** Its row 7 takes 64 channels although row 6
# outputs 32, and its seven stride-2 rows would upsample the 8×8 map to 1024×1024 for a
# 256×256 input. Rows 1–6 and 10–13 are exactly the encoder read backwards; rows 7–9
# (64→128 k4 s2, 128→64 k3 s1, 64→32 k4 s2) repeat a block. We make the smallest change:
# drop those three rows, which gives the exact mirror of the encoder:

# %%
def layer_table(rows, dropped=()):
    out = []
    for i, (c_in, c_out, k, s) in enumerate(rows, 1):
        out.append({"row": i, "in": c_in, "out": c_out, "kernel": k, "stride": s,
                    "used": "dropped" if i in dropped else "yes"})
    return pd.DataFrame(out)


symbols = "C = image channels, L = latent size, K = image_size / 32"
display(Markdown(f"**Encoder (Table 1)** ({symbols})"))
display(layer_table(F.ENCODER_ROWS).drop(columns="used").style.hide(axis="index"))
display(Markdown("**Decoder (Table 2 as printed; rows marked *dropped* are removed)**"))
display(layer_table(F.DECODER_ROWS_AS_PRINTED, F.DECODER_ROWS_DROPPED).style.hide(axis="index"))
channels = data.train.shape[1]
glue("fad_params", F.count_parameters(F.CAE(image_size, channels, latent)), display=False)
glue("fad_params_paper", F.count_parameters(F.CAE(F.PAPER_INPUT_SIZE, 3, F.PAPER_LATENT)), display=False)

# %% [markdown]
# At {glue:text}`fad_image_size` pixels the model has {glue:text}`fad_params:,` parameters
# ({glue:text}`fad_params_paper:,` at the paper's 256 pixels).
#
# ## Training (their Fig 4)
#
# The {glue:text}`fad_n_train` good training images are augmented as in the paper by random
# rotations, horizontal and vertical flips and Gaussian noise
# ({func}`adlib.models.fadaeinejad.augment`) to {glue:text}`fad_n_aug` images, and the CAE is
# trained with the L2 loss (their eq. 5, as the mean squared error) by Adam for
# {glue:text}`fad_iterations` iterations with the shared training loop
# ({func}`adlib.training.fit`) on {glue:text}`fad_device`.

# %%
with run.step("augment"):
    train_set = F.augment(data.train, max(augmented_size, len(data.train)), seed=seed, noise_std=noise_std)
glue("fad_n_aug", len(train_set), display=False)
x_val = torch.from_numpy(data.test[val_idx])
x_test = torch.from_numpy(data.test[test_idx])
m_val, m_test = data.masks[val_idx], data.masks[test_idx]
t_val, t_test = types[val_idx], types[test_idx]


def train_and_score(latent_size):
    runtime.seed_everything(seed)                  # the same initialisation stream for every model
    model = F.CAE(image_size, channels, latent_size)
    history = model.fit(train_set, iterations=iterations, batch_size=batch_size, lr=lr, seed=seed,
                        device=dev, desc=f"CAE latent {latent_size}")
    return model, history, model.residual_map(x_val).numpy(), model.residual_map(x_test).numpy()


with run.step(f"train latent {latent}"):
    model, history, r_val, r_test = train_and_score(latent)

loss = pd.Series(history.series("loss"))
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(loss, alpha=0.35, label="per iteration")
ax.plot(loss.rolling(20, min_periods=1).mean(), label="rolling mean of 20")
ax.set(xlabel="iteration", ylabel="L2 loss (MSE per pixel)", yscale="log")
ax.legend()
fig.tight_layout()
glue("fad_fig_loss", fig, display=False)
plt.close(fig)
glue("fad_final_loss", float(loss.tail(20).mean()), display=False)
glue("fad_train_seconds", history.seconds, display=False)

# %% [markdown]
# ```{glue:figure} fad_fig_loss
# :name: fig-fad-loss
#
# Training loss (their Fig 4). The mean of the last 20 iterations is
# {glue:text}`fad_final_loss:.4f`; training took {glue:text}`fad_train_seconds:.0f` s.
# ```
#
# ## Algorithm 1 and their Table 3
#
# Algorithm 1: the residual |x − x̂| is reduced to one channel by its maximum over the
# colour channels, and pixels above τ are defects. We report pixel precision, recall and F1
# (their eqs. 1, 2, 4) pooled over all pixels of the test images of each defect type, at
# the paper's τ (0.2; 0.25 for hole) and at the τ that maximises F1 on the validation
# split (searched on a grid of step {glue:text}`fad_tau_step`). Our F1 is the harmonic
# mean of our P and R by construction.

# %%
glue("fad_tau_step", tau_grid_step, display=False)
rows, chosen_tau = [], {}
for d in DEFECTS:
    tv, tt = t_val == d, t_test == d
    chosen_tau[d] = F.best_tau(r_val[tv], m_val[tv], TAUS)
    for source_name, tau in (("paper", F.paper_tau(d)), ("validation", chosen_tau[d])):
        s = F.pixel_scores(r_test[tt], m_test[tt], tau)
        rows.append({"defect": d, "tau_source": source_name, "tau": tau, "precision": s.precision,
                     "recall": s.recall, "f1": s.f1, "images": int(tt.sum())})
per_defect = pd.DataFrame(rows)

published = pd.DataFrame([("print", 0.22, 0.82, 0.35), ("crack", 0.26, 0.57, 0.36),
                          ("cut", 0.69, 0.80, 0.57), ("hole", 0.55, 0.61, 0.75)],
                         columns=["defect", "recall (paper)", "precision (paper)", "F1 (paper)"])
published["F1 from their P, R"] = [F.harmonic_f1(p, r) for p, r in
                                   zip(published["precision (paper)"], published["recall (paper)"])]
published["consistent"] = (published["F1 from their P, R"] - published["F1 (paper)"]).abs() < 0.015
table = per_defect[per_defect.tau_source == "paper"].merge(published, on="defect", how="left")
table["ΔF1"] = table["f1"] - table["F1 (paper)"]
shown = table[["defect", "tau", "precision", "precision (paper)", "recall", "recall (paper)", "f1",
               "F1 (paper)", "F1 from their P, R", "ΔF1"]].rename(
    columns={"precision": "P (ours)", "recall": "R (ours)", "f1": "F1 (ours)", "tau": "τ"})
display(Markdown("**At the paper's τ, ours beside their Table 3**"))
display(shown.style.format(precision=3, na_rep="–").hide(axis="index"))
display(Markdown("**At the τ chosen on the validation split**"))
display(per_defect[per_defect.tau_source == "validation"].drop(columns="tau_source")
        .rename(columns={"tau": "τ (validation)"}).style.format(precision=3).hide(axis="index"))
others = pd.DataFrame([("AE (SSIM)", 0.08, 1.00, 0.15), ("AE (L2)", 0.84, 0.93, 0.88),
                       ("AnoGAN", 0.16, 0.83, 0.27), ("CNN feature dictionary", 0.07, 0.90, 0.13)],
                      columns=["method", "recall (paper)", "precision (paper)", "F1 (paper)"])
others["F1 from their P, R"] = [F.harmonic_f1(p, r) for p, r in
                                zip(others["precision (paper)"], others["recall (paper)"])]
display(Markdown("**The other rows of their Table 3** (methods they quote from the MVTec AD paper, "
                 "not re-run here; pooled over all hazelnut defect types)"))
display(others.style.format(precision=2).hide(axis="index"))
bad = published[~published["consistent"]]
glue("fad_inconsistent", ", ".join(f"{r['defect']} (printed {r['F1 (paper)']:.2f}, from P and R "
                                   f"{r['F1 from their P, R']:.2f})" for _, r in bad.iterrows()) or "none",
     display=False)
for r in table.itertuples():
    glue(f"fad_f1_paper_tau_{r.defect}", float(r.f1), display=False)

# %% [markdown]
# Their Table 3 is not self-consistent. For these rows the printed F1 is not the harmonic
# mean (their eq. 4) of the precision and recall printed beside it:
# {glue:text}`fad_inconsistent` (the F1 values of cut and hole look swapped). We compare
# with their precision and recall, and with the F1 recomputed from them. Their numbers are
# for real hazelnuts at 256 pixels after their (unstated) training length; ours are for the
# data of this build (named above) at {glue:text}`fad_image_size` pixels, so only the
# pattern (which defect types are easy, precision against recall) is comparable, not the
# values.
#
# ## F1 per test image (their Figs 5–8)

# %%
fig, axes = plt.subplots(1, len(DEFECTS), figsize=(3.2 * len(DEFECTS), 3), squeeze=False, sharey=True)
per_image = {}
for ax, d in zip(axes[0], DEFECTS):
    tt = t_test == d
    tau = F.paper_tau(d)
    values = F.per_image_f1(r_test[tt], m_test[tt], tau)
    per_image[d] = values.tolist()
    ax.bar(np.arange(len(values)), values)
    ax.axhline(values.mean(), color="k", ls="--", lw=1)
    ax.set(title=f"{d} (τ = {tau:g}): mean {values.mean():.2f}", xlabel="test image", ylim=(0, 1))
axes[0, 0].set_ylabel("F1")
fig.tight_layout()
glue("fad_fig_per_image", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fad_fig_per_image
# :name: fig-fad-per-image
#
# Pixel F1 of each test image at the paper's τ, per defect type (their Figs 5–8); the
# dashed line is the mean over images.
# ```
#
# ## Input, output, prediction, ground truth (their Figs 9–12)

# %%
def panel_rows(tau_of):
    out = []
    for d in DEFECTS:
        k = int(np.flatnonzero(t_test == d)[0])
        recon = model.reconstruct(x_test[k:k + 1])[0]
        out.append([x_test[k], recon, F.detect(r_test[k], tau_of(d)), m_test[k]])
    return out


fig = plots.image_grid(panel_rows(F.paper_tau), row_labels=DEFECTS,
                       col_labels=["input", "output", "prediction", "ground truth"], cell=2.0)
glue("fad_fig_panels", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fad_fig_panels
# :name: fig-fad-panels
#
# For the first test image of each defect type: the input, the CAE's output, the predicted
# defect pixels of Algorithm 1 at the paper's τ, and the ground truth (their Figs 9–12, in
# one row per defect type instead of 2×2).
# ```
#
# ### Move τ yourself
#
# Every frame was computed when this page was built, so the slider works without a running
# kernel; it opens at the frame closest to the paper's τ = 0.2. The caption gives the
# pooled F1 of every defect type's test images at that τ.

# %%
slider_taus = [float(t) for t in np.round(np.arange(slider_step, 0.7 + 1e-9, slider_step), 3)]


def render(tau):
    rows = []
    for d in DEFECTS:
        k = int(np.flatnonzero(t_test == d)[0])
        rows.append(plots.overlay(x_test[k], F.detect(r_test[k], tau)))
    fig = plots.image_grid([rows], col_labels=DEFECTS, cell=1.8)
    scores = ", ".join(f"{d} {F.pixel_scores(r_test[t_test == d], m_test[t_test == d], tau).f1:.2f}"
                       for d in DEFECTS)
    return fig, f"<b>τ = {tau:.2f}</b>: F1 {scores}"


display(widgets.precomputed_slider("threshold τ", slider_taus, render,
                                   default_index=int(np.argmin(np.abs(np.array(slider_taus) - 0.2))),
                                   fmt="{:.3g}"))

# %% [markdown]
# ## The effect of τ (their §7.1, Figs 13–14)
#
# Their Figs 13–14 show one image thresholded at τ = 0.7, 0.2 and 0.1. We show the same
# and the whole curve: pooled F1 of each defect type's test images against τ.

# %%
sweep = {d: F.f1_curve(r_test[t_test == d], m_test[t_test == d], TAUS) for d in DEFECTS}
fig, ax = plt.subplots(figsize=(6.5, 3.6))
for d in DEFECTS:
    line, = ax.plot(TAUS, sweep[d], label=d)
    ax.plot([chosen_tau[d]], [np.interp(chosen_tau[d], TAUS, sweep[d])], "o", color=line.get_color())
ax.axvline(0.2, color="k", ls="--", lw=1, label="paper τ = 0.2")
ax.axvline(0.25, color="k", ls=":", lw=1, label="paper τ = 0.25 (hole)")
ax.set(xlabel="threshold τ", ylabel="pixel F1 (test)", ylim=(0, 1))
ax.legend(fontsize=8)
fig.tight_layout()
glue("fad_fig_tau_sweep", fig, display=False)
plt.close(fig)

d0 = max(DEFECTS, key=lambda d: int(m_test[t_test == d].sum()))      # the type with most defect pixels
k0 = int(np.flatnonzero(t_test == d0)[0])
fig = plots.image_grid([[plots.overlay(x_test[k0], m_test[k0]), x_test[k0]] +
                        [plots.overlay(x_test[k0], F.detect(r_test[k0], t)) for t in (0.7, 0.2, 0.1)]],
                       col_labels=["ground truth", "test image", "τ = 0.7", "τ = 0.2", "τ = 0.1"], cell=2.0)
glue("fad_fig_tau_examples", fig, display=False)
plt.close(fig)
glue("fad_tau_example_type", d0, display=False)

# %% [markdown]
# ```{glue:figure} fad_fig_tau_sweep
# :name: fig-fad-tau-sweep
#
# Pooled pixel F1 of the test images of each defect type against τ. Dots: the τ chosen on
# the validation split; dashed and dotted lines: the paper's τ.
# ```
#
# ```{glue:figure} fad_fig_tau_examples
# :name: fig-fad-tau-examples
#
# One test image (type *{glue:text}`fad_tau_example_type`*) thresholded at the three τ of
# their Fig 14.
# ```
#
# ## Pixel AUROC: a threshold-free summary
#
# The area under the ROC curve of the residual over all test pixels (defective and good
# images together) does not depend on τ. For our run it is
# **{glue:text}`fad_pixel_auroc:.3f`** overall; per defect type (that type's test images
# together with the good ones):

# %%
good = t_test == "good"
pixel_auroc = F.pixel_auroc(r_test, m_test)
auroc_by_defect = {d: F.pixel_auroc(r_test[(t_test == d) | good], m_test[(t_test == d) | good])
                   for d in DEFECTS}
glue("fad_pixel_auroc", pixel_auroc, display=False)
display(pd.DataFrame({"pixel AUROC": auroc_by_defect}).T.style.format(precision=3))

# %% [markdown]
# ## The effect of the latent size (their §7.2)
#
# The paper argues, without numbers, that a too small latent code misses details and a too
# large one reproduces the defects. We train the same CAE with latent sizes
# {glue:text}`fad_latent_sizes` (same data, iterations, learning rate and seed), choose τ
# per defect type on the validation split as above, and report the test F1 (mean over
# defect types) and the pixel AUROC.

# %%
glue("fad_latent_sizes", ", ".join(map(str, latent_sizes)), display=False)


def summarise(r_v, r_t, hist, size):
    f1_val_tau, f1_paper_tau = [], []
    for d in DEFECTS:
        tv, tt = t_val == d, t_test == d
        tau = F.best_tau(r_v[tv], m_val[tv], TAUS)
        f1_val_tau.append(F.pixel_scores(r_t[tt], m_test[tt], tau).f1)
        f1_paper_tau.append(F.pixel_scores(r_t[tt], m_test[tt], F.paper_tau(d)).f1)
    return {"latent": int(size), "f1_validation_tau": float(np.mean(f1_val_tau)),
            "f1_paper_tau": float(np.mean(f1_paper_tau)), "pixel_auroc": F.pixel_auroc(r_t, m_test),
            "final_loss": float(np.mean(hist.series("loss")[-20:])), "train_seconds": hist.seconds}


latent_rows = []
for size in sorted(set(latent_sizes)):
    if size == latent:
        latent_rows.append(summarise(r_val, r_test, history, size))
        continue
    with run.step(f"train latent {size}"):
        _, hist, rv, rt = train_and_score(size)
    latent_rows.append(summarise(rv, rt, hist, size))
latent_table = pd.DataFrame(latent_rows)
display(latent_table.style.format(precision=3).format({"final_loss": "{:.5f}", "train_seconds": "{:.1f}"})
        .hide(axis="index"))

fig, ax = plt.subplots(figsize=(6, 3.4))
ax.plot(latent_table.latent, latent_table.f1_validation_tau, "o-", label="mean F1 (τ from validation)")
ax.plot(latent_table.latent, latent_table.f1_paper_tau, "s--", label="mean F1 (paper τ)")
ax.plot(latent_table.latent, latent_table.pixel_auroc, "^-", label="pixel AUROC")
ax.set(xscale="log", xlabel="latent size", ylabel="score", ylim=(0, 1))
ax.legend(fontsize=8)
fig.tight_layout()
glue("fad_fig_latent", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fad_fig_latent
# :name: fig-fad-latent
#
# Test F1 (mean over defect types) and pixel AUROC against the latent size (their §7.2
# discussion, which has no figure).
# ```
#
# ## Verdict
#
# Computed from this run's numbers (not typed): each of the paper's conclusions, checked
# against our tables.

# %%
lines = []
# τ sensitivity: F1 lower at τ = 0.1 and 0.7 than at the curve's peak?
falls = []
for d in DEFECTS:
    at = lambda t: float(np.interp(t, TAUS, sweep[d]))
    peak = float(sweep[d].max())
    falls.append(at(0.1) < peak - 0.02 and at(0.7) < peak - 0.02)
    lines.append(f"- **τ, {d}**: F1 {at(0.1):.2f} at τ = 0.1, {F.pixel_scores(r_test[t_test == d], m_test[t_test == d], F.paper_tau(d)).f1:.2f} "
                 f"at the paper's τ = {F.paper_tau(d):g}, {at(0.7):.2f} at τ = 0.7; the validation split "
                 f"chose τ = {chosen_tau[d]:.2f}, where the test F1 is "
                 f"{float(per_defect[(per_defect.defect == d) & (per_defect.tau_source == 'validation')].f1.iloc[0]):.2f}.")
lines.insert(0, "- **Too high or too low a τ lowers F1** (their §7.1): " +
             ("holds for every defect type here." if all(falls) else
              f"holds for {sum(falls)} of {len(DEFECTS)} defect types here."))
gap = np.mean([float(per_defect[(per_defect.defect == d) & (per_defect.tau_source == 'validation')].f1.iloc[0]) -
               float(per_defect[(per_defect.defect == d) & (per_defect.tau_source == 'paper')].f1.iloc[0])
               for d in DEFECTS])
lines.append(f"- **A fixed τ = 0.2 transfers?** Choosing τ on a few validation images changes the mean test "
             f"F1 by {gap:+.2f} against the paper's τ: " +
             ("the best τ depends on the data and the model, so τ must be chosen per setting, not copied."
              if abs(gap) >= 0.02 else "the paper's τ is close to the best here."))
if len(latent_table) >= 2:
    small, large = latent_table.iloc[0], latent_table.iloc[-1]
    sizes = ", ".join(map(str, latent_table.latent))
    for column, label, margin in (("f1_validation_tau", "mean F1", 0.02), ("pixel_auroc", "pixel AUROC", 0.005)):
        best = latent_table.loc[latent_table[column].idxmax()]
        small_hurts = small[column] < best[column] - margin
        large_hurts = large[column] < best[column] - margin
        lines.append(
            f"- **Latent size, {label}** (their §7.2; sizes {sizes}): best {best[column]:.3f} at latent "
            f"{int(best.latent)}; the smallest code ({int(small.latent)}) gives {small[column]:.3f} and the largest "
            f"({int(large.latent)}) {large[column]:.3f}. *Too small hurts*: "
            + ("**yes**" if small_hurts else "**no**") + "; *too large hurts*: "
            + ("**yes**" if large_hurts else "**no**")
            + f" (a difference counts when it exceeds {margin}). "
            + ("Both sides of their trade-off are visible." if small_hurts and large_hurts else
               "Their trade-off is only partly visible in this range." if small_hurts or large_hurts else
               "The latent size hardly matters in this range."))
inconsistent = published[~published.consistent].defect.tolist()
lines.append(f"- **Their Table 3**: F1 of {', '.join(inconsistent) or 'no row'} does not follow from the printed "
             f"precision and recall; with F1 recomputed, their best type is "
             f"{published.loc[published['F1 from their P, R'].idxmax(), 'defect']} and ours (paper τ) is "
             f"{table.loc[table['f1'].idxmax(), 'defect']}.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# **Deviations from the paper.** Unless real data is given, the data are synthetic
# hazelnut-like objects generated by adlib, not MVTec AD hazelnut, so our numbers are not
# comparable in value with their Table 3. The decoder drops rows 7–9 of their Table 2 (it
# does not chain otherwise) and so mirrors the encoder exactly; for input sizes other than
# 256 the last encoder kernel (and the first decoder kernel) is size/32 instead of 8. The
# images are {glue:text}`fad_image_size` pixels in the `quick` profile (the paper: 256), the
# training set is smaller and the number of iterations is a profile parameter (the paper
# states neither epochs nor optimiser; we use Adam). Their augmentation ranges (rotation
# angles, noise level) are not stated; ours are given in
# {func}`adlib.models.fadaeinejad.augment`. Their L2 loss (eq. 5, the norm of the
# difference) is implemented as the mean squared error. We add a validation split of
# defective images to choose τ without looking at the test images, a pixel AUROC, and a
# measured latent-size sweep, which the paper only discusses.

# %% tags=["remove-cell"]
run.results["per_defect"] = per_defect.to_dict(orient="records")
run.results["pixel_auroc"] = pixel_auroc
run.results["pixel_auroc_by_defect"] = auroc_by_defect
run.results["tau_sweep"] = {"taus": TAUS.tolist(), "f1": {d: sweep[d].tolist() for d in DEFECTS},
                            "validation_tau": chosen_tau}
run.results["latent_sweep"] = latent_rows
run.results["per_image_f1"] = per_image
run.results["training"] = {"final_loss": float(loss.tail(20).mean()), "seconds": history.seconds,
                           "augmented_images": int(len(train_set))}
run.results["published_table3"] = published.to_dict(orient="records")
run.results["published_table3_other_methods"] = others.to_dict(orient="records")
run.results["verdict"] = lines
# The results overview's published-vs-ours rows: F1 per defect type at the paper's τ.
run.results["headline"] = [
    {"what": f"F1, {row['defect']} at the paper's τ = {row['tau']:g}",
     "published": float(published.set_index("defect").loc[row["defect"], "F1 (paper)"]), "ours": float(row["f1"])}
    for row in per_defect.to_dict(orient="records")
    if row["tau_source"] == "paper" and row["defect"] in set(published["defect"])]
print("results written to", run.save())
