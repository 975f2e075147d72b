"""Saeedi & Giusti's chapter: their Table 4, the data, the scores of the five methods, the
tables and figures, and the verdict on their claim (the detectors are in
:mod:`adlib.detectors.saeedi`, the networks in :mod:`adlib.models.saeedi`).

Scores travel as plain dicts: ``scores[category][method] = (test scores, uncertain scores)``;
``metrics[category][method] = {"auc": ..., "ap": ...}`` (both None, with a ``note``, when the
test images of a category are of one class only).
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from dataclasses import dataclass, replace

import ipywidgets as ipw
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image
from sklearn.manifold import TSNE
from sklearn.metrics import roc_curve, silhouette_score

from adlib import detectors, health, params, plots, references, runtime, widgets
from adlib.claims import Data, decide_parts, judge
from adlib.data import elpv, folders
from adlib.detectors.base import Detector, Prediction
from adlib.metrics import auroc_rows, auroc_text, image_auroc_ap, image_metrics, pixel_metrics
from adlib.patches import resize

MVTEC_OBJECTS = ["bottle", "cable", "capsule", "hazelnut", "metal_nut", "pill", "toothbrush", "transistor"]
METHODS = ["Proposed", "AE (L2)", "Deep Feature", "NN", "Variation"]
CHALLENGED = ("AE (L2)", "Deep Feature")      # the baselines the claim is about
SIMPLE = ("NN", "Variation")                  # the baselines the paper calls unreliable
GLUE_KEYS = dict(zip(METHODS, ["proposed", "ael2", "deep", "nn", "variation"]))

# Saeedi & Giusti, Table 4 (MVTec AD objects, then their mean), AUC and AP in %
PUBLISHED = {
    "Proposed": {"auc": [99.71, 87.73, 86.39, 95.87, 79.28, 86.74, 100.0, 93.06, 91.09],
                 "ap": [99.90, 92.54, 96.71, 97.90, 94.88, 97.23, 100.0, 91.68, 96.35]},
    "AE (L2)": {"auc": [89.77, 82.70, 54.89, 85.23, 59.45, 79.85, 76.68, 86.35, 75.31],
                "ap": [96.83, 89.70, 87.12, 91.74, 87.36, 95.59, 91.03, 85.72, 91.39]},
    "Deep Feature": {"auc": [96.71, 83.61, 88.37, 90.29, 68.93, 71.71, 91.67, 85.33, 83.27],
                     "ap": [98.90, 90.45, 96.40, 95.01, 90.21, 92.38, 96.85, 85.51, 93.89]},
    "NN": {"auc": [81.02, 81.30, 69.78, 52.83, 60.16, 63.66, 95.84, 81.12, 68.12],
           "ap": [93.78, 88.11, 91.09, 74.29, 87.76, 88.71, 98.46, 78.64, 87.29]},
    "Variation": {"auc": [79.25, 68.20, 46.05, 49.13, 42.95, 62.86, 86.48, 73.09, 58.07],
                  "ap": [93.12, 77.88, 83.08, 70.93, 79.20, 87.56, 94.36, 75.15, 81.96]},
}


def published_table() -> pd.DataFrame:
    """Table 4 in long form: method, metric (AUC / AP), category (or "mean"), paper (%)."""
    return pd.DataFrame([{"method": method, "metric": metric.upper(), "category": cat, "paper": number}
                         for method, values in PUBLISHED.items() for metric, numbers in values.items()
                         for cat, number in zip(MVTEC_OBJECTS + ["mean"], numbers)])


HEALTH_FRACTION = health.HOLD_OUT_FRACTION    # normal training images held out for the health check
CPCAE_MODEL = "CPCAE (Proposed, AE (L2))"     # the health table's name of the one trained model per category
BASELINE_MODELS = {"Deep Feature": "Deep Feature k-NN", "NN": "Nearest Neighbour", "Variation": "Variation"}
DESIGN_TOLERANCE = 1.0                        # AUC points: a design choice's gain smaller than this is no gain
TEST_EVERY = 4                                # ELPV: every 4th normal cell (by file name) is a test cell
TSNE_PERPLEXITY = 20.0                        # lowered to (n − 1) / 3 for small test sets


def parameter_specs() -> dict[str, params.Spec]:
    """The chapter's parameters beyond the common ones (:data:`adlib.params.COMMON`)."""
    return {
        "categories": params.Spec((list, tuple), optional=True),
        "image_size": params.integer(32, 4096),
        "colour": params.flag(),
        "work_size": params.integer(16, 2048),
        "patch": params.integer(8, 512),
        "stride": params.integer(1, 512),
        "latent": params.integer(1, 100_000),
        "width": params.integer(1, 1024),
        "l1": params.number(0.0, 100.0),
        "iterations": params.integer(1, 10_000_000),
        "batch_size": params.integer(1, 65_536),
        "backbone": params.text(),
        "weights_path": params.text(optional=True),
        "feature_size": params.Spec(int, 32, 4096, optional=True),
        "k": params.integer(1, 100_000),
        "k_baseline": params.integer(1, 100_000),
        "k_values": params.Spec((list, tuple)),
        "map_split": params.choice("none", "holdout"),
        "max_train": params.Spec(int, 2, 10_000_000, optional=True),
        "max_test_normal": params.Spec(int, 1, 10_000_000, optional=True),
        "max_test_defective": params.Spec(int, 1, 10_000_000, optional=True),
        "max_uncertain": params.Spec(int, 0, 10_000_000, optional=True),
        "panels": params.integer(1, 20),
        "ablations": params.choices_list("gmp", "other_split"),
        "bootstrap": params.integer(10, 1_000_000),
        "field_methods": params.choices_list(*FIELD_METHODS),
    }


def check_parameters(values: dict) -> None:
    """What the specs cannot say (the patch grid must cover the working size, k values), before
    any work: the detector checks its hyperparameters when it is built."""
    try:
        detectors.get("saeedi_cpcae", **{key: values[key] for key in ("work_size", "patch", "stride")})
    except ValueError as err:
        raise params.ParameterError(str(err)) from None
    if not values["k_values"] or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                         for v in values["k_values"]):
        raise params.ParameterError(f"k_values={values['k_values']} must be a list of positive integers")


# ----------------------------------------------------------------------------- data

@dataclass
class Category:
    name: str
    train: np.ndarray            # (N, C, S, S) normal images
    test: np.ndarray             # (M, C, S, S)
    labels: np.ndarray           # (M,) 0 normal, 1 defective
    uncertain: np.ndarray        # (U, C, S, S) images the experts were unsure about (ELPV only)
    uncertain_p: np.ndarray      # (U,) their defect probability
    masks: np.ndarray | None = None   # (M, S, S) bool ground truth of the test images (MVTec layout only)

    @property
    def channels(self) -> int:
        return int(self.train.shape[1])


def survey(paths) -> tuple[Counter, bool]:
    """How many images of each (width, height) a list of files holds, and whether any is in
    colour (both read from the headers)."""
    sizes, colour = Counter(), False
    for path in paths:
        with Image.open(path) as img:
            sizes[img.size] += 1
            colour = colour or img.mode not in ("1", "L", "LA", "I", "I;16", "F")
    return sizes, colour


def load_categories(data_root: str | None, *, categories, image_size: int, colour: bool,
                    max_train, max_test_normal, max_test_defective, max_uncertain,
                    run: runtime.Run | None = None) -> tuple[dict[str, Category], list[str], str]:
    """(categories, notes on the data, source): MVTec-layout folders under ``data_root`` (the
    eight objects of Table 4 when all are there), else ELPV's mono and poly cells."""
    record = run.add_dataset if run is not None else (lambda *a, **k: None)
    data, notes = {}, []
    if not data_root:
        loaded = elpv.load_elpv(types=categories or elpv.TYPES, size=None if image_size == 300 else image_size,
                                test_every=TEST_EVERY, max_train=max_train, max_test_normal=max_test_normal,
                                max_test_defective=max_test_defective, max_uncertain=max_uncertain)
        for name, cat in loaded.items():
            data[name] = Category(name, cat.train, cat.test, cat.labels, cat.uncertain, cat.uncertain_probability)
            record(f"elpv:{name}", source="elpv-dataset (PyPI)", train=len(cat.train), test=len(cat.test),
                   defective=int(cat.labels.sum()), uncertain=len(cat.uncertain), available=cat.available,
                   checksum=runtime.array_checksum(cat.train, cat.test, cat.uncertain))
        return data, notes, "ELPV (elpv-dataset)"
    found = folders.find_mvtec_categories(data_root)
    if not found:
        raise folders.DataLayoutError(f"data_root {data_root} holds no MVTec-layout category; expected "
                                      f"{folders.MVTEC_LAYOUT}")
    names = [p.name for p in found]
    if categories:
        missing = sorted(set(categories) - set(names))
        if missing:
            raise params.ParameterError(f"categories {missing} are not in {data_root} (found {names})")
        found = [p for p in found if p.name in categories]
    elif set(MVTEC_OBJECTS) <= set(names):
        found = [p for p in found if p.name in MVTEC_OBJECTS]
    for folder in found:
        paths = folders.images_in(folder / "train" / "good") + [
            p for kind in folders.subfolders(folder / "test") for p in folders.images_in(kind)]
        sizes, in_colour = survey(paths)
        if len(sizes) > 1:
            widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
            listed = (", ".join(f"{w}×{h}" for w, h in sizes) if len(sizes) <= 6 else
                      f"widths {min(widths)}–{max(widths)}, heights {min(heights)}–{max(heights)}")
            notes.append(f"*{folder.name}*: images of {len(sizes)} different sizes ({listed}); "
                         f"all resized to {image_size}×{image_size}.")
        if colour and not in_colour:
            notes.append(f"*{folder.name}*: grey images, kept grey (one channel, not three copies).")
        # Grey images stay one channel: as three identical channels the magnetic-tile CPCAE
        # collapsed (same code for every input; measured), as one it was healthy.
        cat = folders.load_mvtec_category(folder, size=image_size, grey=not (colour and in_colour),
                                          max_train=max_train, max_test_per_type=max_test_defective,
                                          require_masks=False)
        masks = cat.masks if cat.masks[cat.labels == 1].any(axis=(1, 2)).all() else None   # all or none
        data[cat.name] = Category(cat.name, cat.train, cat.test, cat.labels,
                                  np.zeros((0, *cat.train.shape[1:]), np.float32), np.zeros(0), masks)
        record(f"mvtec:{cat.name}", path=str(folder), train=len(cat.train), test=len(cat.test),
               defective=int(cat.labels.sum()), resized_to=image_size, original_sizes=[f"{w}x{h}" for w, h in sizes])
    return data, notes, "MVTec-layout folders"


def hold_out_health(data: dict[str, Category], seed: int,
                    fraction: float = HEALTH_FRACTION) -> tuple[dict[str, Category], dict[str, np.ndarray]]:
    """(categories without their health images, {category: held-out normal images}): a seeded
    ``fraction`` of each category's normal *training* images is set aside before any fitting.
    No method trains on them or keeps them in a memory bank; only the health check sees them."""
    kept, held = {}, {}
    for name, d in data.items():
        train, held[name] = health.hold_out(d.train, fraction, seed)
        kept[name] = replace(d, train=train)
    return kept, held


def overview_table(data: dict[str, Category], held: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    held = held or {}
    return pd.DataFrame([{"category": name, "train (normal)": len(d.train),
                          "held out (health check)": len(held.get(name, ())),
                          "test normal": int((d.labels == 0).sum()),
                          "test defective": int((d.labels == 1).sum()), "uncertain (kept apart)": len(d.uncertain),
                          "image": "×".join(map(str, d.train.shape[1:]))} for name, d in data.items()])


# ----------------------------------------------------------------------------- health

def check_health(detector: Detector, held_out: np.ndarray, run: runtime.Run | None, *, dataset: str,
                 model: str, seed: int) -> health.Health:
    """The fitted detector's health on held-out normal images (``"not trained"`` for the
    baselines without training), recorded in the run's results."""
    report = detector.health(held_out)
    if run is not None:
        run.add_health(report, dataset=dataset, model=model, seed=seed)
    return report


def health_sentence(records: list[dict]) -> str:
    """One sentence for the prose: which trained models are not healthy and why, or that all
    are, with the range of their error and spread ratios."""
    trained = [r for r in records if r["status"] != "not trained"]
    if not trained:
        return "No model of this run was trained."
    bad = [r for r in trained if r["status"] not in health.USABLE]
    if bad:
        return "Not healthy: " + "; ".join(f"{r['model']} on {r['dataset']}: {r['status']} ({'; '.join(r['reasons'])})"
                                           for r in bad) + ". Claims that rest on them are inconclusive below."
    ratios = [r["checks"].get("error_ratio") for r in trained]
    spreads = [r["checks"].get("spread_ratio") for r in trained]
    ratios, spreads = [v for v in ratios if v is not None], [v for v in spreads if v is not None]
    numbers = (f" (held-out reconstruction error {min(ratios):.2f}–{max(ratios):.2f} times the mean image's, "
               f"output spread {min(spreads):.0%}–{max(spreads):.0%} of the inputs')" if ratios and spreads else "")
    return f"All {len(trained)} trained models are healthy{numbers}."


# ----------------------------------------------------------------------------- AUC text

auc_text = functools.partial(auroc_text, percent=True)       # AUCs here are in %


def labelled(table: pd.DataFrame, auc_columns, auc_rows=None) -> pd.DataFrame:
    """The table as text, one decimal: AUC cells (``auc_columns`` of the rows where ``auc_rows``,
    a boolean mask, is true; all rows when None) below 50 labelled inverted."""
    out = table.copy().astype(object)
    rows = np.ones(len(table), bool) if auc_rows is None else np.asarray(auc_rows, bool)
    for column in table.columns:
        if not pd.api.types.is_numeric_dtype(table[column]) or column.startswith("n ("):
            continue
        is_auc = column in auc_columns
        out[column] = [auc_text(v) if is_auc and row else ("–" if pd.isna(v) else f"{v:.1f}")
                       for v, row in zip(table[column], rows)]
    return out


# ----------------------------------------------------------------------------- scores

def predict_uncertain(detector: Detector, category: Category) -> Prediction | None:
    """The detector's prediction of the category's uncertain images (None when it has none)."""
    return detector.predict(category.uncertain) if len(category.uncertain) else None


def collect(test: Prediction, uncertain: Prediction | None,
            methods: dict[str, str | None]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{method: (test scores, uncertain scores)}; ``methods`` maps a method to the prediction's
    extra score it is (None: the main score)."""
    def pick(p: Prediction | None, key: str | None) -> np.ndarray:
        if p is None:
            return np.zeros(0)
        return p.scores if key is None else p.extra[key]
    out = {m: (pick(test, key), pick(uncertain, key)) for m, key in methods.items()}
    for method, (s, _) in out.items():
        if not np.isfinite(s).all():
            raise FloatingPointError(f"{method}: scores contain NaN/inf; check the input images")
    return out


def evaluate(scores: dict, data: dict[str, Category], methods=METHODS) -> dict[str, dict[str, dict]]:
    """AUC and AP of each method on each category; None (with a note, never NaN) where the test
    images are of one class only."""
    out = {}
    for name, by_method in scores.items():
        labels = data[name].labels
        out[name] = {}
        for method in methods:
            if labels.min() == labels.max():
                note = "no defective test images" if labels.max() == 0 else "no normal test images"
                out[name][method] = {"auc": None, "ap": None, "note": note}
                continue
            s = by_method[method][0]
            auc, ap = image_auroc_ap(s[labels == 0], s[labels == 1])
            out[name][method] = {"auc": auc, "ap": ap}
    return out


def mvtec_records(scores: dict, maps: dict, data: dict[str, Category], healths: dict) -> list[dict]:
    """The field's metrics (:mod:`adlib.metrics`, MVTec AD / anomalib conventions) of every
    method on every category: image AUROC, AP and F1-max; pixel AUROC over all test pixels and
    AUPRO where the method has a map and the category masks (``maps[category][method]``; the
    CPCAE's residual map is the Proposed method's and counted once, on its row). Each row
    carries the health of the model behind it and Table 4's AUC for the category, if printed."""
    rows = []
    for name, by_method in scores.items():
        d = data[name]
        if d.labels.min() == d.labels.max():
            continue
        for method in METHODS:
            s = by_method[method][0]
            row = {"category": name, "method": method, **image_metrics(s[d.labels == 0], s[d.labels == 1]),
                   "pixel_auroc": None, "aupro": None}
            method_map = maps.get(name, {}).get(method)
            if method_map is not None and d.masks is not None:
                row.update(pixel_metrics(method_map, d.masks))
            trained = method in ("Proposed", "AE (L2)")
            row["health"] = healths[name].status if trained else "not trained"
            row["published"] = (PUBLISHED[method]["auc"][MVTEC_OBJECTS.index(name)] / 100
                                if name in MVTEC_OBJECTS else None)
            rows.append(row)
    return rows


# The field's feature-space methods, measured beside the paper's on MVTec-layout data: same
# categories, split, resolution, colour and seed as this run's CPCAE, so their rows compare with
# ours directly (anomalib's quoted rows are on the full split, other backbones and their own runs).
FIELD_METHODS = ("patchcore", "padim", "feature_ae", "reverse_distillation")


def field_records(data: dict[str, Category], held_out: dict[str, np.ndarray], methods, *, iterations: int,
                  seed: int, device, run: runtime.Run | None = None) -> list[dict]:
    """``mvtec_records``-style rows of the field's ``methods`` (:data:`FIELD_METHODS`) on every
    category with both classes: each fitted at its own defaults, trained ones for at most
    ``iterations`` steps (the chapter's budget), health-checked on the same held-out normals."""
    rows = []
    for name, d in data.items():
        if d.labels.min() == d.labels.max():
            continue
        for key in methods:
            cls = detectors.REGISTRY[key]
            detector = detectors.get(key, channels=d.channels, image_size=d.train.shape[-1], seed=seed)
            steps = min(iterations, cls.iterations)
            with run.step(f"{cls.label} {name}") if run is not None else contextlib.nullcontext():
                detector.fit(d.train, iterations=steps, device=device)
                prediction = detector.predict(d.test)
            report = check_health(detector, held_out[name], run, dataset=name, model=f"{cls.label} (field)", seed=seed)
            s = prediction.scores
            row = {"category": name, "method": cls.label, "source": references.MEASURED, "family": cls.family,
                   "steps": steps if cls.takes_steps else None,
                   **image_metrics(s[d.labels == 0], s[d.labels == 1]), "pixel_auroc": None, "aupro": None,
                   "fit_seconds": detector.fit_seconds, "health": report.status, "published": None}
            if prediction.maps is not None and d.masks is not None:
                row.update(pixel_metrics(prediction.maps, d.masks))
            rows.append(row)
    return rows


def valid(metrics: dict) -> list[str]:
    """The categories with an AUC (both classes among their test images)."""
    return [name for name, by in metrics.items() if by["Proposed"]["auc"] is not None]


def means(metrics: dict, metric: str = "auc") -> dict[str, float]:
    """Mean of ``metric`` over the valid categories, per method ({} when none is valid)."""
    names = valid(metrics)
    if not names:
        return {}
    return {m: float(np.mean([metrics[n][m][metric] for n in names])) for m in metrics[names[0]]}


def single_class_note(metrics: dict) -> str | None:
    empty = [n for n in metrics if n not in valid(metrics)]
    if not empty:
        return None
    return (f"**Note**: the test images of {', '.join(empty)} are of one class only "
            f"({metrics[empty[0]]['Proposed']['note']}); AUC and AP are undefined there, shown as '–' and "
            f"left out of the means and the verdict (never counted as NaN).")


def table4(metrics: dict) -> pd.DataFrame:
    """AUC and AP (%) per method and category in the layout of their Table 4, with our mean,
    the paper's MVTec mean and, for MVTec categories, the paper's value beside ours."""
    names, rows = valid(metrics), []
    for method in METHODS:
        for metric in ("auc", "ap"):
            row = {"method": method, "metric": metric.upper()}
            for name in metrics:
                value = metrics[name][method][metric]
                row[name] = None if value is None else 100 * value
            row["mean (ours)"] = float(np.mean([100 * metrics[n][method][metric] for n in names])) if names else None
            row["mean (paper, MVTec)"] = PUBLISHED[method][metric][-1]
            row["Δ mean"] = row["mean (ours)"] - row["mean (paper, MVTec)"] if names else None
            rows.append(row)
    table = pd.DataFrame(rows)
    published = published_table()
    same = published[published.category.isin(list(metrics))]
    if len(same):
        wide = same.pivot_table(index=["method", "metric"], columns="category", values="paper")
        wide.columns = [f"{c} (paper)" for c in wide.columns]
        table = table.merge(wide.reset_index(), on=["method", "metric"], how="left")
    return table


def table4_text(metrics: dict) -> pd.DataFrame:
    """:func:`table4` as text for the page: one decimal, '–' where undefined, AUCs below 50
    labelled inverted (the Δ column is a difference, not an AUC)."""
    table = table4(metrics)
    aucs = [c for c in table.columns if c not in ("method", "metric", "Δ mean")]
    return labelled(table, aucs, table.metric == "AUC")


def uncertain_table(scores: dict, data: dict[str, Category], metrics: dict) -> pd.DataFrame:
    """AUC (%) of the normal test images against the uncertain ones of each defect probability
    (and, for reference, against the defective ones, p = 1)."""
    rows = []
    for name in valid(metrics):
        d = data[name]
        for method in METHODS:
            s_test, s_unc = scores[name][method]
            row = {"category": name, "method": method}
            for p, label in ((1 / 3, "p = 1/3"), (2 / 3, "p = 2/3")):
                chosen = s_unc[np.abs(d.uncertain_p - p) < 1e-6] if len(s_unc) else s_unc
                row[label] = 100 * image_auroc_ap(s_test[d.labels == 0], chosen)[0] if len(chosen) else None
                row[f"n ({label})"] = len(chosen)
            row["p = 1"] = 100 * metrics[name][method]["auc"]
            rows.append(row)
    return pd.DataFrame(rows)


def auc_by_k(analyses: dict, data: dict[str, Category], k_options, names) -> dict[str, dict[int, tuple]]:
    """{category: {k: (AUC, AP)}} of the proposed score (eq. 4) at each k, from the distances
    of :meth:`SaeediCPCAE.analyse`."""
    out = {}
    for name in names:
        labels, distances = data[name].labels, analyses[name].distances
        out[name] = {kk: image_auroc_ap(distances[:, :kk].mean(1)[labels == 0], distances[:, :kk].mean(1)[labels == 1])
                     for kk in k_options}
    return out


def k_options(k_values, k: int, analyses: dict) -> list[int]:
    """The slider's values of k: those the distances reach (the bank bounds k)."""
    available = min((a.distances.shape[1] for a in analyses.values()), default=0)
    return sorted({kk for kk in list(k_values) + [k] if kk <= available})


def ablation_table(metrics: dict, scores: dict, data: dict[str, Category], map_split: str, gmp: bool = True,
                   other_split: dict | None = None) -> pd.DataFrame:
    """The proposed configuration, global max pooling of the map features ("GMP" scores) and,
    where given, the other ``map_split`` ({category: (test scores, bank size)}); ΔAUC in points."""
    rows, other = [], "holdout" if map_split == "none" else "none"
    for name in valid(metrics):
        labels = data[name].labels
        proposed = metrics[name]["Proposed"]
        variants = {f"as above (parallel + cascade pooling, map_split={map_split!r})": (proposed["auc"], proposed["ap"])}
        if gmp:
            s = scores[name]["GMP"][0]
            variants["global max pooling of the map features"] = image_auroc_ap(s[labels == 0], s[labels == 1])
        if other_split and name in other_split:
            s, bank = other_split[name]
            variants[f"map_split={other!r} ({bank} bank maps)"] = image_auroc_ap(s[labels == 0], s[labels == 1])
        rows += [{"category": name, "variant": v, "AUC": 100 * auc, "AP": 100 * ap, "ΔAUC": 100 * (auc - proposed["auc"])}
                 for v, (auc, ap) in variants.items()]
    return pd.DataFrame(rows)


def ablation_summary(table: pd.DataFrame) -> str | None:
    """One sentence: the mean change of AUC of each variant against the proposed configuration."""
    if not len(table):
        return None
    changes = table[~table.variant.str.startswith("as above")]
    if not len(changes):
        return None
    by_kind = changes.assign(kind=changes.variant.str.split(" \\(").str[0]).groupby("kind", sort=False)["ΔAUC"].mean()
    return "Mean change of AUC against the proposed configuration: " + "; ".join(
        f"{kind}: {delta:+.1f} points" for kind, delta in by_kind.items()) + "."


# ----------------------------------------------------------------------------- bootstrap and verdict

def bootstrap_auc_difference(labels, scores_a, scores_b, n: int = 1000, seed: int = 0,
                             level: float = 0.95) -> tuple[float, float, float]:
    """AUC(a) − AUC(b) on the same test images and its paired bootstrap interval.

    Test images are resampled with replacement (resamples holding one class only are
    dropped); returns (difference, low, high) at ``level``.
    """
    labels = np.asarray(labels).astype(int)
    scores_a, scores_b = np.asarray(scores_a, float), np.asarray(scores_b, float)
    if labels.min() == labels.max():
        raise ValueError("the bootstrap needs normal and anomalous test images")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(labels), (n, len(labels)))
    lab = labels[idx]
    keep = (lab.min(axis=1) == 0) & (lab.max(axis=1) == 1)
    idx, lab = idx[keep], lab[keep]
    diffs = auroc_rows(lab, scores_a[idx]) - auroc_rows(lab, scores_b[idx])
    low, high = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    full = auroc_rows(labels[None], scores_a[None])[0] - auroc_rows(labels[None], scores_b[None])[0]
    return float(full), float(low), float(high)


def intervals(scores: dict, data: dict[str, Category], metrics: dict, n: int, seed: int) -> dict:
    """{category: {baseline: (ΔAUC, low, high)}}: proposed minus each baseline of the claims
    (:data:`CHALLENGED` and :data:`SIMPLE`), with its 95 % paired bootstrap interval over the test images."""
    return {name: {b: bootstrap_auc_difference(data[name].labels, scores[name]["Proposed"][0], scores[name][b][0],
                                               n=n, seed=seed) for b in CHALLENGED + SIMPLE}
            for name in valid(metrics)}


def interval_records(ci: dict) -> list[dict]:
    return [{"category": name, "baseline": b, "ΔAUC": 100 * d, "low": 100 * lo, "high": 100 * hi}
            for name, by in ci.items() for b, (d, lo, hi) in by.items()]


def _unusable(healths: dict | None, names, prefix: str = "CPCAE") -> str | None:
    """'inconclusive (CPCAE poly under-trained)' when a model of ``names`` is not usable, else None."""
    return health.inconclusive({f"{prefix} {n}": healths[n] for n in names if healths and n in healths})


def _category_line(name: str, s: dict, ci: dict, blocked: str | None = None) -> str:
    beats = [b for b in CHALLENGED if s["Proposed"]["auc"] > s[b]["auc"] and s["Proposed"]["ap"] > s[b]["ap"]]
    outcome = ("beats both on AUC and AP" if len(beats) == len(CHALLENGED) else
               f"beats {' and '.join(beats)} on AUC and AP only" if beats else "beats neither on both AUC and AP")
    differences = ", to ".join(f"{b} {100 * d:+.1f} ({100 * lo:+.1f} to {100 * hi:+.1f}) points"
                               + ("" if lo > 0 or hi < 0 else ", not significant")
                               for b, (d, lo, hi) in ci.items() if b in CHALLENGED)
    return (f"- **{name}**: proposed AUC {auc_text(100 * s['Proposed']['auc'])} % / AP {100 * s['Proposed']['ap']:.1f} %, "
            f"AE (L2) {auc_text(100 * s['AE (L2)']['auc'])} / {100 * s['AE (L2)']['ap']:.1f} %, "
            f"Deep Feature {auc_text(100 * s['Deep Feature']['auc'])} / {100 * s['Deep Feature']['ap']:.1f} %: "
            + (f"**{blocked}**" if blocked else outcome)
            + (f"; AUC difference (95 % paired bootstrap interval) to {differences}" if ci and not blocked else "") + ".")


def label_separation(analyses: dict, data: dict[str, Category], names) -> dict[str, tuple[float, float]]:
    """{category: (silhouette of normal vs anomalous test images in the AE latent codes, in the
    proposed map embedding)}: their Fig 6's "better separated", as a number (Euclidean
    silhouette of the standardised features, −1 to 1; higher is better separated)."""
    out = {}
    for name in names:
        labels = data[name].labels
        if labels.min() == labels.max() or len(labels) < 3:     # a silhouette needs 2 labels, fewer than samples
            continue
        codes = analyses[name].maps.codes.numpy()
        codes = (codes - codes.mean(0)) / (codes.std(0) + 1e-6)
        out[name] = (float(silhouette_score(codes, labels)), float(silhouette_score(analyses[name].embeddings["pc"], labels)))
    return out


def _separation_line(sep: dict, healths: dict | None) -> str:
    codes, maps = (float(np.mean([v[i] for v in sep.values()])) for i in (0, 1))
    blocked = _unusable(healths, sep)
    outcome = (f"**{blocked}**." if blocked else
               "better separated in the proposed embedding, as in the paper." if maps > codes else
               "**not** better separated in the proposed embedding, unlike the paper.")
    return (f"- **Fig 6 (separation)**: mean silhouette of normal vs anomalous test images {codes:.3f} in the AE "
            f"latent codes, {maps:.3f} in the proposed map embedding (no tolerance: the higher one wins): {outcome}")


def _ablation_lines(ablation: pd.DataFrame, healths: dict | None, ablation_healths: dict | None) -> list[str]:
    """The two design choices the paper motivates without measuring: parallel + cascade pooling
    (vs global max pooling) and the bank of the AE's own training maps (vs held-out maps)."""
    lines = []
    if ablation is None or not len(ablation):
        return lines
    base = ablation[ablation.variant.str.startswith("as above")].set_index("category").AUC
    tol = DESIGN_TOLERANCE
    for start, what, paper, extra in (("global max", "Parallel + cascade pooling vs global max pooling",
                                       f"higher by more than {tol:g} point", {}),
                                      ("map_split", "Memory bank of the AE's own training maps vs held-out maps",
                                       f"not lower by more than {tol:g} point", ablation_healths or {})):
        rows = ablation[ablation.variant.str.startswith(start)]
        if not len(rows):
            continue
        ours, theirs = float(base[rows.category].mean()), float(rows.AUC.mean())
        if start == "map_split" and not rows.variant.iloc[0].startswith("map_split='holdout'"):
            ours, theirs = theirs, ours               # this run's own split is the held-out one
        blocked = _unusable(healths, rows.category) or _unusable(extra, rows.category, "CPCAE (other map_split)")
        holds = ours > theirs + tol if paper.startswith("higher") else ours >= theirs - tol
        outcome = (f"**{blocked}**." if blocked else
                   f"the paper's choice is {paper}, as it assumes." if holds else
                   f"the paper's choice is **not** {paper} here.")
        lines.append(f"- **{what}**: mean AUC {auc_text(ours)} vs {auc_text(theirs)} % (tolerance {tol:g} AUC "
                     f"point): {outcome}")
    return lines


def beaten_baselines(metrics: dict) -> list[str]:
    """The baselines of the claim (:data:`CHALLENGED`) the proposed method beats in both mean AUC and AP."""
    auc, ap = means(metrics, "auc"), means(metrics, "ap")
    return [b for b in CHALLENGED if auc["Proposed"] > auc[b] and ap["Proposed"] > ap[b]]


def verdict(metrics: dict, ci: dict, healths: dict | None = None, *, separation: dict | None = None,
            ablation: pd.DataFrame | None = None, ablation_healths: dict | None = None) -> list[str]:
    """The markdown lines on the claim *AE + deep-feature k-NN beats AE (L2) and plain deep
    features* (their Table 4), from ``metrics`` ({category: {method: {"auc", "ap"}}}) and the
    bootstrap intervals ``ci`` ({category: {baseline: (ΔAUC, low, high)}}), then on the simple
    baselines, and, where given, on their Fig 6 (``separation``, see :func:`separation`) and on
    the design choices of the ``ablation`` table.

    ``healths`` ({category: Health of its CPCAE}) and ``ablation_healths`` (the CPCAEs of the
    other map_split): a claim whose numbers come from a model that is not usable is
    *inconclusive (CPCAE X collapsed / diverged / under-trained)*, never holds or fails."""
    names = valid(metrics)
    if not names:
        return ["- No category has both normal and defective test images: no verdict."]
    lines = [_category_line(name, metrics[name], ci.get(name, {}), _unusable(healths, [name])) for name in names]
    auc, beaten = means(metrics, "auc"), beaten_baselines(metrics)
    best = max(METHODS, key=lambda m: auc[m])
    blocked = _unusable(healths, names)
    if blocked:
        claim = f"The comparison is **{blocked}**."
    else:      # point means: the claims table above decides, with intervals
        than = ("both" if len(beaten) == len(CHALLENGED) else f"{beaten[0]} only" if beaten else "neither")
        claim = (f"In point means the proposed method has a higher AUC and AP than {than}; the claims table "
                 f"above decides, with intervals.")
    lines.append(f"- **Mean over categories**: proposed AUC {auc_text(100 * auc['Proposed'])} % vs AE (L2) "
                 f"{auc_text(100 * auc['AE (L2)'])} % and Deep Feature {auc_text(100 * auc['Deep Feature'])} %; "
                 f"best mean AUC: {best}. {claim}")
    below = [m for m in SIMPLE if auc[m] < auc["Proposed"]]
    lines.append(f"- **Simple baselines**: NN mean AUC {auc_text(100 * auc['NN'])} %, Variation "
                 f"{auc_text(100 * auc['Variation'])} %"
                 + (f"; the comparison with the proposed method is **{blocked}**." if blocked else
                    "; both below the proposed method, as in the paper." if len(below) == len(SIMPLE) else
                    f"; only {below[0]} below the proposed method here." if below else
                    "; neither below the proposed method here, unlike the paper."))
    if separation:
        lines.append(_separation_line(separation, healths))
    return lines + _ablation_lines(ablation, healths, ablation_healths)


def mean_glue(metrics: dict) -> dict[str, float]:
    """The prose's numbers: our mean AUC (as text, labelled inverted below 50) and AP (%) of each
    method and the paper's MVTec means."""
    auc, ap, out = means(metrics, "auc"), means(metrics, "ap"), {}
    for method, key in GLUE_KEYS.items():
        out.update({f"auc_{key}": auc_text(100 * auc.get(method, np.nan)), f"ap_{key}": 100 * ap.get(method, np.nan),
                    f"paper_auc_{key}": PUBLISHED[method]["auc"][-1], f"paper_ap_{key}": PUBLISHED[method]["ap"][-1]})
    return out


def mean_records(metrics: dict) -> dict[str, dict]:
    auc, ap = means(metrics, "auc"), means(metrics, "ap")
    return {m: {"auc": auc.get(m), "ap": ap.get(m)} for m in METHODS}


def headline(metrics: dict) -> list[dict]:
    """The results overview's published-vs-ours rows: mean AUC over categories (theirs: MVTec AD)."""
    auc, names = means(metrics, "auc"), valid(metrics)
    return [{"what": f"{method} mean AUC % (ours: {', '.join(names)}; paper: MVTec AD)",
             "published": PUBLISHED[method]["auc"][-1], "ours": 100 * auc[method]}
            for method in ("Proposed", "AE (L2)", "Deep Feature") if method in auc]


def _judged(names: list[str], source: str) -> tuple[list[str], str, Data]:
    """(the categories a claim is judged on, a note on those left out, its data). The paper
    judged MVTec AD's eight objects, each with its own row of Table 4, so a category of ours
    that is one of them is the paper's data for that row; other MVTec-layout categories (e.g.
    magnetic tiles) are left out of the claims, and ELPV cells are not the paper's data at all."""
    about = f"MVTec AD objects ({', '.join(MVTEC_OBJECTS)})"
    theirs = [n for n in names if n in MVTEC_OBJECTS] if source == "MVTec-layout folders" else []
    judged = theirs or names
    left_out = "; ".join(f"{n} left out: not one of the paper's objects" for n in names if n not in judged)
    shown = ", ".join(judged) if judged else "no category with normal and defective test images"
    if theirs and len(theirs) < len(MVTEC_OBJECTS):
        shown += f" ({len(theirs)} of the paper's {len(MVTEC_OBJECTS)} objects; each against its own Table 4 row)"
    return judged, left_out, Data(about, f"{shown} ({source})", bool(theirs))


def _gap_claim(text: str, baselines, metrics: dict, ci: dict, healths: dict | None, source: str) -> dict:
    """Proposed beats each of ``baselines`` on every category: one part per (category, baseline),
    each decided by its paired bootstrap interval of the AUC gap; the row shows the deciding part."""
    names, left_out, data = _judged(valid(metrics), source)
    parts = {(n, b): ci[n][b] for n in names for b in baselines if b in ci.get(n, {})}
    models = {f"{CPCAE_MODEL} on {n}": healths[n] for n in names if healths and n in healths}
    if not parts:
        return judge(text, data, models=models, unit="AUC points", no_interval="no category with both classes",
                     note=left_out)
    status, (name, weakest) = decide_parts({k: (100 * lo, 100 * hi) for k, (_, lo, hi) in parts.items()}, 0.0)
    gap, low, high = parts[name, weakest]
    published = (PUBLISHED["Proposed"]["auc"][MVTEC_OBJECTS.index(name)] - PUBLISHED[weakest]["auc"][MVTEC_OBJECTS.index(name)]
                 if name in MVTEC_OBJECTS else None)
    return judge(text, data, status=status, models=models, ours=100 * gap, interval=(100 * low, 100 * high),
                 interval_method=f"95 % paired bootstrap over the test images; of {len(parts)} (category, "
                                   f"baseline) gaps, the one that decides: proposed − {weakest} on {name}",
                   published=published, unit="AUC points", note=left_out, seeds=1)   # one CPCAE per category


def claims(metrics: dict, ci: dict, healths: dict, source: str = "MVTec-layout folders") -> list[dict]:
    """The verdict table's rows (:mod:`adlib.claims`): the proposed method beats AE (L2) and plain
    deep features (their Table 4), and the simple baselines (NN, variation model) are unreliable,
    i.e. below it; each on every category, by the paired bootstrap intervals ``ci`` (:func:`intervals`)."""
    return [_gap_claim("CPCAE residuals + deep-feature k-NN beat AE (L2) and plain deep features (image AUC)",
                       CHALLENGED, metrics, ci, healths, source),
            _gap_claim("The nearest-neighbour and variation-model baselines are unreliable: below the proposed "
                       "method (image AUC)", SIMPLE, metrics, ci, healths, source)]


# ----------------------------------------------------------------------------- figures

def loss_figure(histories: dict) -> plt.Figure:
    """Training loss (reconstruction part, rolling mean of 25) of each category's CPCAE."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, history in histories.items():
        ax.plot(pd.Series(history.series("mse")).rolling(25, min_periods=1).mean(), label=name)
    ax.set(xlabel="iteration", ylabel="MSE per pixel (rolling mean of 25)", yscale="log")
    ax.legend()
    fig.tight_layout()
    return fig


def _roc_axes(ax, curves: dict, title: str) -> None:
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set(title=title, xlabel="false positive rate", ylabel="true positive rate", aspect="equal")
    ax.legend(fontsize=9, loc="lower right")


def roc_curves(scores: dict, data: dict[str, Category], metrics: dict) -> dict[str, dict[str, tuple]]:
    return {name: {m: roc_curve(data[name].labels, scores[name][m][0])[:2] for m in METHODS} for name in valid(metrics)}


def roc_figure(curves: dict, metrics: dict) -> plt.Figure:
    """ROC curves of the five methods on each category, AUC in the legend (their Figs 7–8)."""
    fig, axes = plots.panel_grid(len(curves), 3.4, 3.6)
    for ax, (name, by) in zip(axes, curves.items()):
        for method, (fpr, tpr) in by.items():
            ax.plot(fpr, tpr, label=f"{method} ({auc_text(100 * metrics[name][method]['auc'], short=True)})",
                    lw=2.2 if method == "Proposed" else 1.2)
        _roc_axes(ax, by, name)
    fig.tight_layout()
    return fig


def _roc_frame(curves: dict, metrics: dict, name: str, method: str) -> ipw.Image:
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    for other, xy in curves[name].items():
        if other != method:
            ax.plot(*xy, color="0.75", lw=1)
    m = metrics[name][method]
    ax.plot(*curves[name][method], lw=2.5, label=f"{method}: AUC {auc_text(100 * m['auc'], short=True)} %, AP {100 * m['ap']:.1f} %")
    _roc_axes(ax, curves[name], name)
    fig.tight_layout()
    return widgets.image_widget(fig)


def roc_selector(curves: dict, metrics: dict) -> ipw.VBox | None:
    """Category and method drop-downs over precomputed ROC frames (they work in the static page)."""
    if not curves:
        return None
    category_box = ipw.Dropdown(options=list(curves), index=0, description="category")
    method_box = ipw.Dropdown(options=METHODS, index=0, description="method")
    inner = []
    for name in curves:
        stack = ipw.Stack([_roc_frame(curves, metrics, name, m) for m in METHODS], selected_index=0)
        ipw.jslink((method_box, "index"), (stack, "selected_index"))
        inner.append(stack)
    outer = ipw.Stack(inner, selected_index=0)
    ipw.jslink((category_box, "index"), (outer, "selected_index"))
    return ipw.VBox([ipw.HBox([category_box, method_box]), outer])


def k_frame(by_k: dict, metrics: dict, kk: int) -> tuple[plt.Figure, str]:
    """One frame of the k slider: AUC of the proposed score against k per category (dashed: the
    deep-feature baseline), the frame's k marked; and its caption."""
    options = sorted(next(iter(by_k.values())))
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for i, (name, by) in enumerate(by_k.items()):
        ax.plot(options, [100 * by[x][0] for x in options], marker="o", color=f"C{i}", label=name)
        ax.plot([kk], [100 * by[kk][0]], marker="o", ms=12, color=f"C{i}")
        ax.axhline(100 * metrics[name]["Deep Feature"]["auc"], ls="--", color=f"C{i}", lw=1)
    ax.set(xscale="log", xlabel="k", ylabel="AUC (%) of the proposed score")
    ax.legend(fontsize=9)
    fig.tight_layout()
    text = ", ".join(f"{name}: AUC {auc_text(100 * by[kk][0])} %, AP {100 * by[kk][1]:.1f} %" for name, by in by_k.items())
    return fig, f"<b>k = {kk}</b>: {text}"


def tsne_figure(analyses: dict, data: dict[str, Category], seed: int,
                perplexity: float = TSNE_PERPLEXITY) -> plt.Figure:
    """t-SNE of the test images' AE latent codes (left) and proposed map embeddings (right)."""
    fig, axes = plt.subplots(len(analyses), 2, figsize=(plots.COLUMN_INCHES, 3.4 * len(analyses)), squeeze=False)
    for row, (name, a) in zip(axes, analyses.items()):
        labels = data[name].labels
        for ax, (features, title) in zip(row, ((a.maps.codes.numpy(), "AE latent codes"),
                                                (a.embeddings["pc"], "proposed embedding"))):
            ax.set(title=f"{name}: {title}", xticks=[], yticks=[])
            varying = features[:, features.std(0) > 1e-6]
            distinct = len(np.unique(varying, axis=0))
            if distinct < 3:                              # a collapsed code: nothing to embed
                ax.text(0.5, 0.5, f"{distinct} distinct feature vector(s)\namong {len(features)} test images\n"
                        "(collapsed): no t-SNE", ha="center", va="center", transform=ax.transAxes)
                continue
            p = min(perplexity, max((len(features) - 1) / 3, 1.0))
            # exact, not Barnes-Hut: its quad tree segfaulted on real-profile codes (many
            # identical rows and columns); exact is O(n²), cheap for a few hundred test images
            xy = TSNE(2, perplexity=p, init="pca", method="exact", random_state=seed).fit_transform(
                (varying - varying.mean(0)) / varying.std(0))
            for lab, marker, text in ((0, "o", "normal"), (1, "^", "anomalous")):
                ax.scatter(*xy[labels == lab].T, s=14, marker=marker, label=text, alpha=0.8)
            ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def panels_figure(analyses: dict, data: dict[str, Category], panels: int) -> plt.Figure:
    """Normal and defective test images (columns) of each category; rows: input, reconstruction
    (upsized), anomaly map on one colour scale per category (their Figs 9–10)."""
    blocks = []
    for name, d in data.items():
        chosen = ([(i, "normal") for i in np.flatnonzero(d.labels == 0)[:panels]]
                  + [(i, "defective") for i in np.flatnonzero(d.labels == 1)[:panels]])
        blocks.append((d, analyses[name].maps, chosen))
    n_cols = max(max(len(c) for *_, c in blocks), 1)
    cell = min(1.9, plots.COLUMN_INCHES / n_cols)
    fig, axes = plt.subplots(3 * len(blocks), n_cols, figsize=(cell * n_cols, cell * 3 * len(blocks)), squeeze=False)
    for b, (d, result, chosen) in enumerate(blocks):
        top = max(float(np.quantile(result.maps[[i for i, _ in chosen]].numpy(), 0.999)), 1e-6) if chosen else 1
        for j in range(n_cols):
            for row in range(3):
                ax = axes[3 * b + row, j]
                ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
                if j >= len(chosen):
                    ax.axis("off")
                    continue
                i, text = chosen[j]
                if row == 0:
                    ax.imshow(plots.as_image(d.test[i]), cmap="gray", vmin=0, vmax=1)
                    ax.set_title(text, fontsize=9)
                elif row == 1:
                    recon = resize(result.reconstructions[i:i + 1], d.test.shape[-1])[0]
                    ax.imshow(plots.as_image(recon.clamp(0, 1)), cmap="gray", vmin=0, vmax=1)
                else:
                    ax.imshow(result.maps[i].numpy(), cmap="magma", vmin=0, vmax=top)
                if j == 0:
                    ax.set_ylabel(f"{d.name}\n" + ("input", "reconstruction", "anomaly map")[row], fontsize=9)
    fig.tight_layout()
    return fig
