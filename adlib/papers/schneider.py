"""Schneider et al. (VISAPP 2022), CAE vs VAE vs AAE: the chapter's published numbers,
experiments (all through :mod:`adlib.detectors`), figures and verdict.

- :data:`PUBLISHED`: their Table 1 (accuracy A, IoU and training time per set and model).
- :func:`calibrate`: the defect strength of each synthetic set, chosen so that a *perfect*
  reconstruction reaches the paper's IoU (:func:`adlib.data.synthetic.reference_iou`); no
  model is trained for it. :func:`synthetic_sets` generates the sets, :func:`held_out_normals`
  fresh defect-free images (another seed) for the health checks.
- :func:`run_table1`: the three detectors on the synthetic *chess* and *noise* sets, A and IoU
  at the IoU-maximising threshold, and each model's health; :func:`compare_table1`,
  :func:`time_ratios`.
- :func:`run_texture` / :func:`run_real`: the CAE on a real texture (their Figs 6, 8, 9) or an
  MVTec-layout category: per-patch error histograms, contrast kept, reconstructions.
- ``figure_*``: the chapter's figures (each returns a matplotlib Figure);
  :func:`threshold_slider` the precomputed threshold widget.
- :func:`verdict`: the markdown lines that check each claim against our numbers; a claim
  that rests on a model that is not healthy (:mod:`adlib.health`) is *inconclusive*.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from adlib import detectors, health, metrics, params, plots, references, widgets
from adlib.claims import Data, decide_parts, judge, paired_interval
from adlib.data import folders, synthetic
from adlib.data import textures as texture_data
from adlib.patches import grid_patches, pad_to_grid
from adlib.runtime import array_checksum

# The three models of the paper, by the detector that implements each.
DETECTORS = {"CAE": "schneider_cae", "VAE": "schneider_vae", "AAE": "schneider_aae"}

PUBLISHED = {
    "source": "Schneider et al. 2022, Table 1",
    # A is their eq. 7 (the pixel recall), IoU their eq. 8, seconds their training time
    "table1": [
        {"dataset": "chess", "model": "CAE", "A": 0.9487, "IoU": 0.7975, "seconds": 212},
        {"dataset": "chess", "model": "VAE", "A": 0.9492, "IoU": 0.7995, "seconds": 213},
        {"dataset": "chess", "model": "AAE", "A": 0.9499, "IoU": 0.7998, "seconds": 1223},
        {"dataset": "noise", "model": "CAE", "A": 0.9093, "IoU": 0.7594, "seconds": 216},
        {"dataset": "noise", "model": "VAE", "A": 0.8797, "IoU": 0.7698, "seconds": 220},
        {"dataset": "noise", "model": "AAE", "A": 0.9218, "IoU": 0.7743, "seconds": 1227},
    ],
}

NEARLY_AS_GOOD = 0.05      # IoU gap below which the CAE counts as "nearly as good"
LOCALISES = 0.75           # a model localises when its IoU reaches this share of the set's reference IoU
HELD_OUT_SEED = 1000       # fresh defect-free images for the health checks: seed + this
CALIBRATION_SEEDS = (101, 102, 103)   # the strength is calibrated on these seeds, never the test seed
# the defect strengths tried by :func:`calibrate`: chess, the largest displacement in squares;
# noise, how much brighter than the background the line is
STRENGTH_GRID = {"chess": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0),
                 "noise": (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)}
COLLAPSE = 0.5             # contrast kept on the stochastic texture below this share of the regular one's
DEFECTIVE_SHARE = 0.05     # a patch is defective when at least this share of its pixels is in a mask


# The chapter's parameters (besides the common ones: profile, seed, device, data_root, results_dir).
PARAMETERS = {
    "models": params.choices_list("CAE", "VAE", "AAE", nonempty=True),
    "image_size": params.integer(32, 2048, doc="side of each synthetic image"),
    "square": params.integer(2, 256, doc="side of a chess square"),
    "calibrate_strength": params.flag(doc="choose chess_shift and line_contrast by calibrate()"),
    "chess_shift": params.number(0.0, 4.0, doc="chess defect strength: largest displacement, in squares"),
    "line_contrast": params.number(0.0, 1.0, doc="noise defect strength: the line's brightness above the background"),
    "acquisition_noise": params.number(0.0, 0.5, doc="std of the noise added to every synthetic image"),
    "antialias": params.integer(1, 16, doc="sub-pixel samples per axis when rendering the chess board"),
    "noise_smoothing": params.number(0.0, 20.0, doc="Gaussian smoothing (pixels) of the noise set's background"),
    "patch_size": params.integer(16, 512, doc="the models' input; a multiple of 16"),
    "iterations": params.integer(1, 1_000_000, doc="minibatch steps per model on the synthetic sets"),
    "batch_size": params.integer(1, 4096),
    "lr": params.number(1e-6, 1.0),
    "aae_adversarial_lr": params.number(1e-7, 1.0, doc="learning rate of the AAE's critic and encoder-vs-critic step"),
    "textures": params.choices_list("brick", "gravel", "grass"),
    "texture_size": params.integer(64, 2048),
    "texture_iterations": params.integer(1, 1_000_000, doc="steps on a texture or a real category"),
    "snapshots": params.integer(1, 20, doc="reconstructions kept over training (Fig 8)"),
    "real_image_size": params.integer(32, 2048, doc="real images are resized to this side"),
    "real_max_train": params.integer(1, 100_000),
    "real_max_test_per_type": params.integer(1, 100_000),
    "real_iterations": params.integer(1, 10_000_000, doc="CAE training steps per real category"),
}


def check_parameters(values: dict) -> None:
    """The checks that involve several parameters (``chapter.setup`` checks each one)."""
    patch, image, square = values["patch_size"], values["image_size"], values["square"]
    if patch % 16:
        raise params.ParameterError(f"patch_size={patch} must be a multiple of 16")
    if patch > image or image % square or patch % square:
        raise params.ParameterError(f"need patch_size <= image_size and both multiples of square "
                                    f"(got {patch}, {image}, {square})")


def published_table1() -> pd.DataFrame:
    return pd.DataFrame(PUBLISHED["table1"])


def paper_time_ratio(model: str = "AAE") -> float:
    """Their training time of ``model`` relative to the CAE's, the mean over chess and noise."""
    times = {(r["dataset"], r["model"]): r["seconds"] for r in PUBLISHED["table1"]}
    return float(np.mean([times[d, model] / times[d, "CAE"] for d in ("chess", "noise")]))


def _step(run, label: str):
    return run.step(label) if run is not None else contextlib.nullcontext()


# ----------------------------------------------------------------------------- synthetic sets

def generate(name: str, *, image_size: int, square: int, seed: int, strength: float, noise_std: float,
             antialias: int = 4, smoothing: float = 1.0) -> synthetic.AnomalySet:
    """One synthetic set at a given defect ``strength`` (chess: the largest displacement in
    squares; noise: the line's contrast) and acquisition noise. On chess each image's board
    starts at a random whole-square offset, so a model must reconstruct both colourings."""
    if name == "chess":
        return synthetic.chess(size=image_size, square=square, seed=seed, max_shift=strength * square,
                               antialias=antialias, noise_std=noise_std, random_phase=True)
    if name == "noise":
        return synthetic.noise(size=image_size, seed=seed, contrast=strength, noise_std=noise_std,
                               smoothing=smoothing)
    raise ValueError(f"unknown synthetic set {name!r}; choose chess or noise")


def paper_iou(name: str) -> float:
    """The paper's IoU on a synthetic set, the mean over its three models (Table 1)."""
    return float(np.mean([r["IoU"] for r in PUBLISHED["table1"] if r["dataset"] == name]))


def calibrate(*, image_size: int, square: int, noise_std: float, antialias: int = 4, smoothing: float = 1.0,
              grid: dict | None = None, seeds=CALIBRATION_SEEDS) -> tuple[dict, pd.DataFrame]:
    """The defect strength of each set whose *reference IoU* (a perfect reconstruction's,
    :func:`adlib.data.synthetic.reference_iou`, mean over ``seeds``) is closest to the paper's
    IoU. No model is trained and the chapter's own data seed is not used.

    Returns ({set: strength}, a table of every strength tried with its reference IoU)."""
    grid = STRENGTH_GRID if grid is None else grid
    rows = []
    for name, strengths in grid.items():
        for strength in strengths:
            ious = [synthetic.reference_iou(generate(name, image_size=image_size, square=square, seed=s,
                                                     strength=strength, noise_std=noise_std, antialias=antialias,
                                                     smoothing=smoothing)) for s in seeds]
            rows.append({"dataset": name, "strength": strength, "reference IoU": float(np.mean(ious)),
                         "paper IoU": paper_iou(name)})
    table = pd.DataFrame(rows)
    table["gap"] = (table["reference IoU"] - table["paper IoU"]).abs()
    chosen = {name: float(rows.loc[rows["gap"].idxmin(), "strength"]) for name, rows in table.groupby("dataset")}
    table["chosen"] = [chosen[d] == s for d, s in zip(table.dataset, table.strength)]
    return chosen, table.drop(columns="gap")


def synthetic_sets(image_size: int, square: int, seed: int, *, strengths: dict, noise_std: float,
                   antialias: int = 4, smoothing: float = 1.0, run=None) -> dict[str, synthetic.AnomalySet]:
    """The paper's two synthetic sets (four normal, four anomalous images each) at the given
    defect ``strengths`` ({"chess": shift in squares, "noise": line contrast})."""
    with _step(run, "generate synthetic data"):
        sets = {name: generate(name, image_size=image_size, square=square, seed=seed, strength=strengths[name],
                               noise_std=noise_std, antialias=antialias, smoothing=smoothing) for name in ("chess", "noise")}
    for name, data in sets.items():
        if run is not None:
            run.add_dataset(name, generator=f"adlib.data.synthetic.{name}", size=image_size,
                            normal=len(data.normal), anomalous=len(data.anomalous), strength=strengths[name],
                            acquisition_noise=noise_std, reference_iou=synthetic.reference_iou(data),
                            checksum=array_checksum(data.normal, data.anomalous, data.masks))
    return sets


def held_out_normals(image_size: int, square: int, seed: int, *, strengths: dict, noise_std: float,
                     antialias: int = 4, smoothing: float = 1.0) -> dict[str, np.ndarray]:
    """Fresh defect-free images of each set (seed + :data:`HELD_OUT_SEED`), for the health
    checks: the models are trained on single images of a texture, so the held-out normals
    are new images of the same generator, never the test images.

    Chess gets each board and its inverse (1 − board: the board one square over): the
    health check's tiles of one image all share a colouring, so four boards may show a model
    only one content, and a model that follows its inputs would then look collapsed."""
    out = {name: generate(name, image_size=image_size, square=square, seed=seed + HELD_OUT_SEED,
                          strength=strengths[name], noise_std=noise_std, antialias=antialias,
                          smoothing=smoothing).normal for name in ("chess", "noise")}
    out["chess"] = np.concatenate([out["chess"], 1 - out["chess"]])
    return out


@dataclass
class Table1Run:
    """What :func:`run_table1` returns: the table and, per (set, model), what the figures need."""
    table: pd.DataFrame                                   # dataset, model, A, IoU, threshold, ...
    detectors: dict = field(default_factory=dict)         # (set, model) → fitted detector
    maps: dict = field(default_factory=dict)              # (set, model) → (N, H, W) anomaly maps
    best: dict = field(default_factory=dict)              # (set, model) → metrics.ThresholdResult
    health: dict = field(default_factory=dict)            # (set, model) → health.Health


def run_table1(sets: dict, models, *, patch: int, square: int, iterations: int, batch_size: int,
               lr: float, seed: int, device, held_out: dict | None = None, aae_adversarial_lr: float | None = None,
               run=None) -> Table1Run:
    """Fit each model on each set's normal images (crops on the chess lattice for *chess*),
    check its health on ``held_out`` normal images ({set: images}; fresh images of the
    generator), map the anomalous images, and threshold the maps at the IoU-maximising
    constant."""
    stride = square if patch % square == 0 else patch // 4
    out = Table1Run(pd.DataFrame())
    rows = []
    for name, data in sets.items():
        for kind in models:
            extra = {"adversarial_lr": aae_adversarial_lr} if kind == "AAE" else {}
            detector = detectors.get(DETECTORS[kind], channels=1, image_size=data.normal.shape[-1], seed=seed,
                                     patch=patch, variant="synthetic", stride=stride, lr=lr,
                                     crop_step=square if name == "chess" else 1, **extra)
            with _step(run, f"train {name} {kind}"):
                detector.fit(data.normal, iterations=iterations, batch_size=batch_size, device=device)
            if held_out is not None:
                out.health[name, kind] = detector.health(held_out[name])
                if run is not None:
                    run.add_health(out.health[name, kind], dataset=name, model=kind, seed=seed)
            with _step(run, f"score {name} {kind}"):
                maps = detector.predict(data.anomalous).maps
                best = metrics.best_iou_threshold(maps, data.masks)
            out.detectors[name, kind], out.maps[name, kind], out.best[name, kind] = detector, maps, best
            rows.append({"dataset": name, "model": kind, "A": best.accuracy, "IoU": best.iou,
                         "threshold": best.threshold, "train_seconds": detector.history.seconds,
                         "final_loss": detector.reconstruction_losses()[-1],
                         "reference_IoU": synthetic.reference_iou(data) if data.clean is not None else float("nan")})
    out.table = pd.DataFrame(rows)
    return out


def compare_table1(table: pd.DataFrame) -> pd.DataFrame:
    """Our A, IoU and time beside the paper's, with the IoU difference."""
    published = published_table1().rename(columns={"A": "A (paper)", "IoU": "IoU (paper)",
                                                   "seconds": "time s (paper)"})
    merged = table.merge(published, on=["dataset", "model"], how="left")
    merged["ΔIoU"] = merged["IoU"] - merged["IoU (paper)"]
    return merged[["dataset", "model", "A", "A (paper)", "IoU", "IoU (paper)", "ΔIoU", "train_seconds",
                   "time s (paper)"]].rename(columns={"train_seconds": "time s (ours)"})


def time_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Training time of each model relative to the CAE's, one row per set."""
    times = table.pivot(index="dataset", columns="model", values="train_seconds")
    return times.div(times["CAE"], axis=0) if "CAE" in times else times


def headline(table: pd.DataFrame) -> list[dict]:
    """Mean IoU over chess and noise per model, ours beside the paper's (results overview)."""
    published = published_table1()
    return [{"what": f"mean IoU over chess and noise, {kind}",
             "published": float(published[published.model == kind]["IoU"].mean()),
             "ours": float(table[table.model == kind]["IoU"].mean())} for kind in table.model.unique()]


# ----------------------------------------------------------------------------- textures and real data

@dataclass
class PatchRun:
    """The CAE on one texture or real category: plain ``metrics`` plus what the figures need."""
    name: str
    metrics: dict
    detector: detectors.Detector
    normal_errors: np.ndarray        # per-patch mean squared error, defect-free patches
    defect_errors: np.ndarray        # ... patches with at least DEFECTIVE_SHARE of defect pixels
    test: np.ndarray                 # (N, C, H, W) test images
    masks: np.ndarray                # (N, H, W)
    maps: np.ndarray                 # (N, H, W) anomaly maps of the test images
    snapshots: list = field(default_factory=list)   # [(iteration, reconstruction of the probe)]
    probe: torch.Tensor | None = None                # the training patch of the snapshots
    health: health.Health | None = None              # on held-out normal images


def _patch_errors(detector, test: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    errors = detector.patch_errors(test).ravel()
    shares = detector.patch_shares(masks).ravel()
    normal, defect = errors[shares == 0], errors[shares >= DEFECTIVE_SHARE]
    auroc, ap = metrics.image_auroc_ap(normal, defect)
    return normal, defect, {"patch_auroc": auroc, "patch_ap": ap, "normal_patches": int(len(normal)),
                            "defective_patches": int(len(defect))}


def contrast_kept(detector, images) -> float:
    """Mean per-patch standard deviation of the reconstructions over the inputs' (tiles of the
    non-overlapping grid): 1 keeps all the texture's contrast, 0 is the flat mean image."""
    x = torch.as_tensor(np.asarray(images))
    inputs = grid_patches(pad_to_grid(x, detector.patch, detector.patch), detector.patch, detector.patch)
    recon = grid_patches(pad_to_grid(detector.reconstruct(x), detector.patch, detector.patch),
                         detector.patch, detector.patch)
    return float(recon.std(dim=(1, 2, 3)).mean() / inputs.std(dim=(1, 2, 3)).mean())


def run_texture(name: str, *, size: int, patch: int, iterations: int, batch_size: int, lr: float,
                seed: int, device, snapshots: int = 4, run=None) -> PatchRun:
    """The CAE ("industrial" encoder) on the defect-free top of a texture; per-patch errors and
    maps of its defective copies; reconstructions of one training patch over training."""
    tex = texture_data.texture_set(name, size=size, seed=seed)
    if run is not None:
        run.add_dataset(f"texture:{name}", source=f"skimage.data.{name}", size=size, test_images=len(tex.test),
                        checksum=array_checksum(tex.train, tex.test, tex.masks))
    detector = detectors.get("schneider_cae", channels=1, image_size=size, seed=seed, patch=patch,
                             variant="industrial", lr=lr)
    probe = torch.from_numpy(tex.train[:, :, :patch, :patch])
    kept: list = []
    with _step(run, f"train texture {name}"):
        detector.fit(tex.train, iterations=iterations, batch_size=batch_size, device=device,
                     callback=lambda step, d: kept.append((step, d.reconstruct(probe)[0])),
                     callback_every=max(iterations // max(snapshots - 1, 1), 1))
    status = detector.health(texture_held_out(name, size, tex.train.shape[-2]))
    if run is not None:
        run.add_health(status, dataset=f"texture:{name}", model="CAE", seed=seed)
    normal, defect, found = _patch_errors(detector, tex.test, tex.masks)
    maps = detector.predict(tex.test).maps
    best = metrics.best_iou_threshold(maps, tex.masks)
    found = {"kind": tex.kind, **found, "pixel_iou": best.iou, "pixel_A": best.accuracy,
             "train_seconds": detector.history.seconds, "contrast_kept": contrast_kept(detector, tex.train)}
    return PatchRun(name, found, detector, normal, defect, tex.test, tex.masks, maps, kept, probe[0], status)


def texture_held_out(name: str, size: int, train_rows: int) -> np.ndarray:
    """Held-out normal images of a texture: the defect-free photograph below the training
    region (the test images are copies of it with defects added), as its left and right
    halves (2, 1, h, w). No label is used."""
    rest = texture_data.load_texture(name, size)[train_rows:]
    half = rest.shape[1] // 2
    return np.stack([rest[:, :half], rest[:, half:2 * half]])[:, None].astype(np.float32)


def real_categories(data_root: str | None) -> list:
    """The MVTec-layout categories under ``data_root`` ([] without one; an error if it holds none)."""
    if not data_root:
        return []
    categories = folders.find_mvtec_categories(data_root)
    if not categories:
        raise folders.DataLayoutError(f"data_root {data_root} holds no MVTec-layout category; expected "
                                      f"{folders.MVTEC_LAYOUT}")
    return categories


def run_real(folder, *, image_size: int, patch: int, iterations: int, batch_size: int, lr: float, seed: int,
             device, max_train: int | None = None, max_test_per_type: int | None = None, run=None) -> PatchRun:
    """The CAE on one MVTec-layout category: patch AUROC of good vs defective patches; the
    field's image metrics (AUROC, AP, F1-max) of the detector's score, the image AUROC of the
    worst patch's error, and pixel AUROC and AUPRO of its maps (:mod:`adlib.metrics`)."""
    cat = folders.load_mvtec_category(folder, size=image_size, max_train=max_train,
                                      max_test_per_type=max_test_per_type)
    if not 0 < cat.labels.sum() < len(cat.labels):     # before training, not after
        raise folders.DataLayoutError(f"{Path(folder) / 'test'} needs good (test/good) and defective "
                                      "(test/<defect>) images: the image AUROC compares the two")
    if run is not None:
        run.add_dataset(f"mvtec:{cat.name}", path=str(folder), train=len(cat.train), test=len(cat.test),
                        resized_to=image_size)
    detector = detectors.get("schneider_cae", channels=cat.train.shape[1], image_size=image_size, seed=seed,
                             patch=patch, variant="industrial", lr=lr)
    train, held_out = health.hold_out(cat.train, seed=seed)
    with _step(run, f"train real {cat.name}"):
        detector.fit(train, iterations=iterations, batch_size=batch_size, device=device)
    status = detector.health(held_out)
    if run is not None:
        run.add_health(status, dataset=f"mvtec:{cat.name}", model="CAE", seed=seed)
    normal, defect, found = _patch_errors(detector, cat.test, cat.masks)
    prediction = detector.predict(cat.test)
    worst = detector.patch_errors(cat.test).reshape(len(cat.test), -1).max(axis=1)
    found.update(metrics.image_metrics(prediction.scores[cat.labels == 0], prediction.scores[cat.labels == 1]))
    found["image_auroc_max_patch"] = metrics.image_auroc_ap(worst[cat.labels == 0], worst[cat.labels == 1])[0]
    found.update(metrics.pixel_metrics(prediction.maps, cat.masks) if cat.masks.any()
                 else {"pixel_auroc": float("nan"), "aupro": float("nan")})
    found["train_seconds"] = detector.history.seconds
    return PatchRun(cat.name, found, detector, normal, defect, cat.test, cat.masks, prediction.maps, health=status)


def mvtec_records(real_runs: list[PatchRun]) -> list[dict]:
    """The CAE's field metrics per real category, in the layout of
    :func:`adlib.references.comparison_table` (the paper printed none for these data)."""
    return [{"category": r.name, "method": "CAE (Schneider, industrial encoder)",
             **{k: r.metrics.get(k) for k in references.FIELD_COLUMNS},
             "health": r.health.status if r.health else "not recorded", "published": None} for r in real_runs]


# ----------------------------------------------------------------------------- health

def health_table(records: list[dict]) -> pd.DataFrame:
    """The health table of :func:`adlib.health.table` without the seed column when there is a
    single seed."""
    table = health.table(records)
    return table.drop(columns="seed") if "seed" in table and table["seed"].nunique() <= 1 else table


def health_text(records: list[dict], expected_collapse: str | None = None) -> str:
    """One paragraph for the page: which models are not healthy and why (from the records of
    ``Run.add_health``). ``expected_collapse``: the dataset on which failing to beat the mean
    image is the paper's claim (gravel), said so in the text."""
    bad = [r for r in records if r["status"] not in health.USABLE]
    if not records:
        return "No model was trained."
    if not bad:
        return f"All {len(records)} models checked here are healthy."
    parts = [f"{r['model']} on {r['dataset']}: **{r['status']}** ({'; '.join(r['reasons'])})" for r in bad]
    text = (f"{len(bad)} of {len(records)} models are not healthy: " + "; ".join(parts) + ". Claims that "
            "rest on them are reported as inconclusive in the verdict.")
    if expected_collapse and any(r["dataset"] == expected_collapse for r in bad):
        text += (f" On {expected_collapse.split(':')[-1]} a model that does not beat the mean image is what the "
                 "paper claims; there the verdict only asks that its training converged without blowing up.")
    return text


# ----------------------------------------------------------------------------- figures

def figure_examples(sets: dict):
    """A normal image, an anomalous one and its mask per set (their Fig 2)."""
    return plots.image_grid(
        [[d.normal[0], d.anomalous[0], plots.overlay(d.anomalous[0], d.masks[0])] for d in sets.values()],
        row_labels=list(sets), col_labels=["normal", "anomalous", "ground truth"], cell=2.2)


def figure_losses(result: Table1Run, window: int = 20):
    """Training curves (reconstruction MSE per pixel, rolling mean) of each model on each set."""
    names = list(dict.fromkeys(name for name, _ in result.detectors))
    fig, axes = plots.panel_grid(len(names), 3.4, 3.2)
    for ax, name in zip(axes, names):
        for (set_name, kind), detector in result.detectors.items():
            if set_name == name:
                series = pd.Series(detector.reconstruction_losses())
                ax.plot(series.rolling(window, min_periods=1).mean(), label=kind)
        ax.set(title=name, xlabel="iteration", ylabel=f"MSE per pixel\n(rolling mean of {window})", yscale="log")
        ax.legend()
    fig.tight_layout()
    return fig


def figure_masks(sets: dict, result: Table1Run, image: int = 0):
    """Thresholded maps of each model beside the ground truth, one anomalous image per set (Fig 4)."""
    models = list(dict.fromkeys(kind for _, kind in result.detectors))
    rows = []
    for name, data in sets.items():
        row = [data.anomalous[image], plots.overlay(data.anomalous[image], data.masks[image])]
        row += [plots.overlay(data.anomalous[image], result.maps[name, kind][image] > result.best[name, kind].threshold)
                for kind in models]
        rows.append(row)
    return plots.image_grid(rows, row_labels=list(sets),
                            col_labels=["input x", "ground truth y"] + [f"$R_t$ {k}" for k in models], cell=2.0)


def threshold_slider(name: str, data, maps: np.ndarray, best, kind: str = "CAE", steps: int = 13):
    """A slider over thresholds from ¼ to 4× the IoU-maximising one, every frame precomputed."""
    values = [best.threshold * f for f in np.geomspace(0.25, 4, steps)]

    def render(t):
        prediction = maps > t
        a, i = metrics.accuracy_a(prediction, data.masks), metrics.iou(prediction, data.masks)
        fig = plots.image_grid([[plots.overlay(data.anomalous[k], prediction[k]) for k in range(len(maps))]],
                               cell=1.6)
        return fig, f"<b>{name}, {kind}</b>: t = {t:.4g} → A = {a:.3f}, IoU = {i:.3f}"
    # significant digits, not fixed decimals: a collapsed model's thresholds are all below 1e-4
    return widgets.precomputed_slider(f"{name} threshold t", values, render, default_index=len(values) // 2,
                                      fmt="{:.3g}")


def figure_histograms(runs: list[PatchRun]):
    """Per-patch error of normal and defective patches, one panel per texture or category
    (their Fig 6), as many panels a row as the column holds."""
    fig, axes = plots.panel_grid(len(runs), 3.4, 3.3)
    for ax, r in zip(axes, runs):
        bins = np.histogram_bin_edges(np.r_[r.normal_errors, r.defect_errors], bins=30)
        ax.hist(r.normal_errors, bins=bins, alpha=0.6, density=True, label=f"normal ({len(r.normal_errors)})")
        ax.hist(r.defect_errors, bins=bins, alpha=0.6, density=True, label=f"defective ({len(r.defect_errors)})")
        kind = f" ({r.metrics['kind']})" if "kind" in r.metrics else ""
        ax.set(title=plots.wrap(f"{r.name}{kind}, AUROC {metrics.auroc_text(r.metrics['patch_auroc'], short=True)}",
                                3.2, 11),
               xlabel="mean squared reconstruction\nerror per patch", ylabel="density")
        ax.set_ylim(top=1.4 * ax.get_ylim()[1])         # headroom: the legend above the bars, not on them
        ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def figure_snapshots(runs: list[PatchRun]):
    """Reconstructions of one training patch over training, one row per texture (their Fig 8)."""
    rows = [[r.probe] + [image for _, image in r.snapshots] for r in runs]
    steps = [step for step, _ in runs[0].snapshots]
    return plots.image_grid(rows, row_labels=[r.name for r in runs],
                            col_labels=["input"] + [f"iteration {s}" for s in steps], cell=1.8)


def figure_failure(runs: list[PatchRun]):
    """The test image with the largest defect, its reconstruction and its map (their Fig 9)."""
    rows = []
    for r in runs:
        k = int(np.argmax(r.masks.sum(axis=(1, 2))))
        rows.append([plots.overlay(r.test[k], r.masks[k], 0.3), r.detector.reconstruct(r.test[k:k + 1])[0],
                     r.maps[k]])
    return plots.image_grid(rows, row_labels=[r.name for r in runs],
                            col_labels=["input (defect in red)", "reconstruction", "residual map"],
                            cmaps=["gray", "gray", "magma"], vmax=[1, 1, None], cell=2.6)


# ----------------------------------------------------------------------------- verdict

def _names(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _texture_models(texture_healths: dict) -> dict[str, str]:
    """The texture claim's models with the health that counts for it: brick's CAE must be usable;
    gravel's may fail to beat the mean image (that is the claim), so only its loss checks count:
    its training must have converged without blowing up."""
    models = {}
    if "brick" in texture_healths:
        models["CAE on brick"] = texture_healths["brick"].status
    if "gravel" in texture_healths:
        models["CAE on gravel (loss checks)"] = health.assess(
            {k: v for k, v in texture_healths["gravel"].checks.items()
             if k in ("steps", "drop", "tail_drop", "spike", "end_gap")}).status
    return models


def _texture_blocked(texture_healths: dict) -> str | None:
    """None, or the inconclusive text for the texture claim (:func:`_texture_models`)."""
    bad = [f"{name} {status}" for name, status in _texture_models(texture_healths).items()
           if status not in health.USABLE]
    return f"inconclusive ({'; '.join(bad)})" if bad else None


def _set_line(name: str, iou: pd.Series, reference: float | None, healths: dict) -> str:
    """One synthetic set's reading: do all three localise, and which model has the highest IoU
    (one seed, no interval: an observation; whether the CAE is nearly as good is decided with
    its interval by :func:`claims`)."""
    scores = ", ".join(f"{m} {iou[m]:.3f}" for m in ("CAE", "VAE", "AAE"))
    floor_text = (f"reference IoU {reference:.3f}, a perfect reconstruction's" if reference is not None and
                  np.isfinite(reference) else "no reference IoU")
    start = f"- **{name}** (IoU {scores}; {floor_text}): "
    blocked = health.inconclusive({f"{m} on {name}": healths[name, m] for m in ("CAE", "VAE", "AAE")
                                   if (name, m) in healths})
    if blocked:
        return (start + f"*all three localise* and *the AAE is best* are {blocked}: each rests on the three "
                f"models of this set.")
    parts = []
    if reference is not None and np.isfinite(reference):
        floor = LOCALISES * reference
        weak = [m for m in ("CAE", "VAE", "AAE") if iou[m] < floor]
        parts.append(f"*All three localise* (IoU ≥ {LOCALISES:.0%} of the reference, {floor:.3f}) " +
                     ("holds." if not weak else f"does **not** hold: {_names(weak)} below it."))
    best_kind = iou.idxmax()
    parts.append(f"The highest IoU is the {best_kind}'s" + (", as in the paper" if iou["AAE"] >= iou.max() else
                                                           " (the paper's: the AAE's)")
                 + " — one seed without an interval: observed, not established.")
    return start + " ".join(parts)


TIME_TOLERANCE = 0.10   # wall times of one run vary by several %: within 10 % counts as a tie


def _time_line(table: pd.DataFrame) -> str:
    """The claim on training cost: the CAE fastest and the AAE slowest on every set (two checks,
    each with :data:`TIME_TOLERANCE`, so that the verdict does not flip with timing noise
    between identical reruns; ratios to one decimal for the same reason)."""
    times = table.pivot(index="dataset", columns="model", values="train_seconds")
    aae_slowest = [n for n in times.index if times.loc[n, "AAE"] >= (1 - TIME_TOLERANCE) * times.loc[n].max()]
    not_fastest = [n for n in times.index if times.loc[n, "CAE"] > (1 + TIME_TOLERANCE) * times.loc[n].min()]
    every = len(times.index)
    line = (f"- **Training cost** (same iterations for every model, so the time does not depend on whether a "
            f"model learnt; a model within {TIME_TOLERANCE:.0%} of the fastest or slowest time counts as "
            f"tied with it): the AAE took {(times['AAE'] / times['CAE']).mean():.1f}× the CAE's time on "
            f"average (paper: {paper_time_ratio('AAE'):.1f}×) and the VAE "
            f"{(times['VAE'] / times['CAE']).mean():.1f}× (paper: {paper_time_ratio('VAE'):.1f}×). ")
    line += ("*The CAE trains fastest* holds on every set; " if not not_fastest else
             f"*The CAE trains fastest* does **not** hold on {_names(not_fastest)}; ")
    if len(aae_slowest) == every:
        line += "*the AAE trains slowest* holds on every set."
    elif aae_slowest:
        line += f"*the AAE trains slowest* holds on {_names(aae_slowest)} only."
    else:
        line += "*the AAE trains slowest* does **not** hold on any set."
    return line


def _texture_outcome(regular: dict, stochastic: dict) -> tuple[bool, bool]:
    """The two parts of the stochastic-texture claim: the reconstruction collapses there (keeps
    under :data:`COLLAPSE` of the regular texture's contrast), and detection is weaker."""
    return (bool(stochastic["contrast_kept"] < COLLAPSE * regular["contrast_kept"]),
            bool(stochastic["patch_auroc"] < regular["patch_auroc"]))


def verdict(table: pd.DataFrame, textures: dict | None = None, healths: dict | None = None,
            texture_healths: dict | None = None) -> list[str]:
    """Markdown lines checking the paper's claims against our numbers.

    ``table``: one row per (dataset, model) with ``IoU``, ``train_seconds`` and optionally
    ``reference_IoU`` (from :func:`run_table1`); ``textures``: {texture: metrics of
    :func:`run_texture`} with ``patch_auroc`` and ``contrast_kept`` (the claim on textures
    needs brick and gravel); ``healths``: {(dataset, model): Health} and
    ``texture_healths``: {texture: Health}. A claim resting on a model that is not usable is
    *inconclusive*; the collapse on the stochastic texture is the claim itself, so there only
    the loss checks (converged, no blow-up) of gravel's CAE must pass, and brick's CAE must be
    usable.
    """
    healths, texture_healths = healths or {}, texture_healths or {}
    lines = []
    if {"CAE", "VAE", "AAE"} <= set(table.model):
        for name, rows in table.groupby("dataset", sort=False):
            by_model = rows.set_index("model")
            reference = float(by_model["reference_IoU"].iloc[0]) if "reference_IoU" in by_model else None
            lines.append(_set_line(name, by_model["IoU"], reference, healths))
        lines.append(_time_line(table))
    else:
        lines.append(f"- **Table 1**: the claims on the three models need the CAE, VAE and AAE; this run "
                     f"trained only {_names(sorted(set(table.model)))}.")
    textures = textures or {}
    if {"brick", "gravel"} <= set(textures):
        regular, stochastic = textures["brick"], textures["gravel"]
        blocked = _texture_blocked(texture_healths)
        if blocked:
            lines.append(f"- **Stochastic texture**: {blocked}: the claim needs a usable CAE on brick and a "
                         f"converged one on gravel.")
            return lines
        collapse, worse = _texture_outcome(regular, stochastic)
        start = (f"- **Stochastic texture**: patch AUROC {metrics.auroc_text(stochastic['patch_auroc'])} on "
                 f"gravel vs {metrics.auroc_text(regular['patch_auroc'])} on brick; the reconstructions keep "
                 f"{stochastic['contrast_kept']:.0%} of gravel's contrast vs {regular['contrast_kept']:.0%} of "
                 f"brick's. ")
        if collapse and worse:
            seen = ("The pattern the paper describes is seen: the collapse towards the mean intensity on the "
                    "stochastic texture, and the weaker detection that goes with it.")
        elif collapse:
            seen = ("The collapse towards the mean intensity on the stochastic texture is seen, but **not** the "
                    "failure: defects are separated at least as well as on brick.")
        elif worse:
            seen = ("Defects are separated less well on gravel, but we do **not** see a clearly stronger collapse "
                    f"there (less than {COLLAPSE:.0%} of the regular texture's contrast kept).")
        else:
            seen = ("We see neither a clearly stronger collapse on the stochastic texture (less than "
                    f"{COLLAPSE:.0%} of the regular texture's contrast kept) nor weaker detection there.")
        lines.append(start + seen + " One CAE per texture: a pattern, not a tested difference.")
    return lines


def _iou_counts(maps: np.ndarray, masks: np.ndarray, threshold: float) -> np.ndarray:
    """(N, 2): each image's true positives and TP + FP + FN at ``threshold`` (a pixel is flagged
    when its residual is at least the threshold, as in :func:`adlib.metrics.best_iou_threshold`)."""
    flagged, truth = np.asarray(maps) >= threshold, np.asarray(masks).astype(bool)
    return np.stack([(flagged & truth).sum(axis=(1, 2)), (flagged | truth).sum(axis=(1, 2))], axis=1)


def iou_gap_interval(run: Table1Run, sets: dict, name: str) -> tuple[float, float] | None:
    """95 % paired bootstrap interval (over the set's anomalous test images, each model at its own
    IoU-maximising threshold) of the IoU gap from the CAE to the better of the VAE and AAE."""
    counts = {kind: _iou_counts(run.maps[name, kind], sets[name].masks, run.best[name, kind].threshold)
              for kind in ("CAE", "VAE", "AAE")}

    def gap(idx):
        iou = {k: c[idx, 0].sum() / max(c[idx, 1].sum(), 1) for k, c in counts.items()}
        return float(max(iou["VAE"], iou["AAE"]) - iou["CAE"])

    return paired_interval(gap, len(sets[name].masks))


SYNTHETIC_DATA = "chess and noise sets (generated as the paper describes; its images are not published)"


def claims(run: Table1Run, sets: dict, textures: dict | None = None, texture_healths: dict | None = None) -> list[dict]:
    """The verdict table's rows (:mod:`adlib.claims`): the plain CAE nearly as good as the VAE and
    AAE (the IoU gap to the better one below :data:`NEARLY_AS_GOOD`, by its paired bootstrap
    interval, on every set where at least one model localises; a set where none reaches
    :data:`LOCALISES` of its reference IoU tests nothing), and the failure on stochastic textures."""
    table, textures = run.table, textures or {}
    rows = []
    nearly = f"The plain CAE is nearly as good as the VAE and AAE (IoU gap to the better one < {NEARLY_AS_GOOD})"
    if {"CAE", "VAE", "AAE"} <= set(table.model):
        iou = table.pivot(index="dataset", columns="model", values="IoU")
        reference = table.groupby("dataset")["reference_IoU"].first()
        failed = {n: f"on {n} no model localises (IoU {', '.join(f'{iou.loc[n, m]:.3f}' for m in ('CAE', 'VAE', 'AAE'))}"
                     f" < {LOCALISES:.0%} of the reference {reference[n]:.3f})"
                  for n in iou.index if math.isfinite(reference[n]) and iou.loc[n].max() < LOCALISES * reference[n]}
        judged = [n for n in iou.index if n not in failed]
        data = Data(SYNTHETIC_DATA, ", ".join(judged or list(iou.index)) + " (regenerated)", False, available=False)
        models = {f"{m} on {n}": run.health[n, m] for n in iou.index for m in ("CAE", "VAE", "AAE")
                  if (n, m) in run.health}
        intervals = {n: iou_gap_interval(run, sets, n) for n in judged}
        gaps = {n: float(max(iou.loc[n, "VAE"], iou.loc[n, "AAE"]) - iou.loc[n, "CAE"]) for n in judged}
        status, worst = (decide_parts(intervals, NEARLY_AS_GOOD, above=False) if judged
                         else ("not established", None))
        published = published_table1().pivot(index="dataset", columns="model", values="IoU")
        paper_gap = float((published[["VAE", "AAE"]].max(axis=1) - published["CAE"]).max())
        rows.append(judge(nearly, data, status=status, models=models,
                          ours=gaps[worst] if worst else None, interval=intervals[worst] if worst else None,
                          interval_method=f"95 % paired bootstrap over the anomalous test images, on {worst}"
                                            + (f" (of {len(judged)} sets, the one that decides)" if len(judged) > 1 else ""),
                            no_interval="no set where a model localises", published=paper_gap, unit="IoU gap",
                            failed_task="; ".join(failed.values()) if not judged else None,
                            seeds=1,                         # run_table1 trains one model per set and kind
                            note="; ".join(f"{why}: left out" for why in failed.values()) if judged else ""))
    else:
        rows.append(judge(nearly, Data(SYNTHETIC_DATA, "not run", False, available=False),
                          no_interval="needs the CAE, VAE and AAE", no_models="not run"))
    stochastic = "All three fail on stochastic textures (collapse to the mean, weaker detection)"
    about_textures = Data("their industrial materials (photometric-stereo images, not published)",
                          "brick and gravel crops (embedded photographs)", False, available=False)
    if {"brick", "gravel"} <= set(textures):
        regular, gravel = textures["brick"], textures["gravel"]
        collapsed, weaker = _texture_outcome(regular, gravel)
        rows.append(judge(stochastic, about_textures, status="not established",
                          models=_texture_models(texture_healths or {}),
                          ours=f"{'collapses' if collapsed else 'keeps its contrast'}, patch AUROC "
                                 f"{metrics.auroc_text(gravel['patch_auroc'])} on gravel vs "
                                 f"{metrics.auroc_text(regular['patch_auroc'])} on brick",
                            no_interval="one CAE on one pair of textures: a pattern, not a tested difference",
                            note="CAE on brick (regular) and gravel (stochastic)"))
    else:
        rows.append(judge(stochastic, about_textures, no_interval="needs brick and gravel", no_models="not run"))
    return rows
