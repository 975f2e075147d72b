"""Zhu et al. (2021), the chapter ``zhu_two_stage_rotnet``: their Table 1, the one-class
experiment run through :mod:`adlib.detectors` as :mod:`adlib.grid` jobs, the models' health
and the paper's claims (the tables, figures and detailed verdict lines are in
:mod:`adlib.papers.zhu_results`).

    settings = method_settings(ch.params)                # detector + budget per method
    run = run_one_class(dataset, [8, 3], seeds=[0], methods=ALL_METHODS, settings=settings, device="cpu")
    runs = {dataset.name: run}
    rows = claims(runs, method_healths(runs))             # the verdict table's rows

One-class protocol: each class in turn is normal; a detector is fitted on that class's training
images and scores the whole test split, every other class being anomalous; AUROC per class.
Before fitting, a share of the normal class's training images (:data:`HEALTH_FRACTION`) is held
out; every trained model is checked on them (:meth:`adlib.detectors.base.Detector.health`),
and a claim whose evidence comes from a model that is not healthy is reported as
inconclusive.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from adlib import detectors, grid, health, metrics, params, runtime
from adlib.claims import MIN_SEEDS, Data, decide, judge, paired_interval
from adlib.data import oneclass

# the chapter's method names and the detector behind each
METHODS = {"Two-stage": "zhu_two_stage", "CAE": "zhu_cae", "RotNet": "zhu_rotnet", "Deep SVDD": "deep_svdd",
           "OC-SVM": "ocsvm", "PCA": "pca"}
ALL_METHODS = tuple(METHODS)

# Zhu et al., Table 1: mean AUROC (%) over the classes under the one-class protocol
PUBLISHED = {
    "OC-SVM": {"MNIST": 91.1, "CIFAR10": 64.3, "FashionMNIST": 90.9},
    "CAE": {"MNIST": 92.6, "CIFAR10": 58.2, "FashionMNIST": 92.3},
    "Deep SVDD": {"MNIST": 94.8, "CIFAR10": 64.8, "FashionMNIST": 92.4},
    "OCGAN": {"MNIST": 97.5, "CIFAR10": 65.6, "FashionMNIST": 92.3},
    "RotNet": {"MNIST": 94.9, "CIFAR10": 83.3, "FashionMNIST": 92.4},
    "Two-stage": {"MNIST": 97.3, "CIFAR10": 75.0, "FashionMNIST": 94.0},
}
# the column of Table 1 each dataset of ours is compared with (the subset with MNIST's)
PAPER_COLUMN = {"mnist_subset": "MNIST", "MNIST": "MNIST", "FashionMNIST": "FashionMNIST", "CIFAR10": "CIFAR10"}
# share of each normal class's training images held out, before fitting, for the health checks
HEALTH_FRACTION = health.HOLD_OUT_FRACTION

# the chapter's parameters (beyond adlib.params.COMMON)
PARAMETERS = {
    "datasets": params.Spec((list, tuple), nonempty=True),
    "classes": params.Spec((list, tuple), optional=True, nonempty=True),
    "n_seeds": params.integer(1, 20),
    "train_fraction": params.number(0.05, 0.95),
    "max_train_per_class": params.Spec(int, 1, 10_000_000, optional=True),
    "methods": params.choices_list(*ALL_METHODS),
    "encoder_width": params.integer(4, 512),
    "stem_stride": params.integer(1, 2),
    "decoder_ngf": params.integer(2, 512),
    "rot_iterations": params.integer(1, 10_000_000),
    "rot_batch": params.integer(1, 4096),
    "rot_lr": params.number(1e-6, 10.0),
    "dec_iterations": params.integer(1, 10_000_000),
    "dec_batch": params.integer(1, 4096),
    "dec_lr": params.number(1e-7, 1.0),
    "cae_iterations": params.integer(1, 10_000_000),
    "svdd_iterations": params.integer(1, 10_000_000),
    "svdd_lr": params.number(1e-7, 1.0),
    "ocsvm_nu": params.number(1e-4, 1.0),
    "pca_variance": params.number(0.01, 0.9999),
    "lam": params.number(0.0, 1000.0),
    "precision": params.choice("auto", "fp32", "bf16"),
    "executor": params.text(doc="serial, processes, local or a Dask scheduler address (adlib.grid)"),
    "workers": params.Spec(int, 1, 64, optional=True),
    "classes_dir": params.text(),
    "download": params.flag(),
    "figure_class": params.integer(0, 1000),
    "figure_images": params.integer(1, 16),
}


def check_parameters(values: dict[str, Any]) -> None:
    """What :data:`PARAMETERS`' ranges cannot say, as a :class:`adlib.params.ParameterError`."""
    datasets, classes = values["datasets"], values["classes"]
    if not datasets:
        raise params.ParameterError("parameter 'datasets' is empty; give at least one of mnist_subset, MNIST, "
                                    "FashionMNIST, CIFAR10 or imagefolder:<path>")
    if not all(isinstance(d, str) for d in datasets):
        raise params.ParameterError(f"parameter 'datasets'={datasets!r} must be a list of names")
    if classes is not None and not all(isinstance(k, int) and not isinstance(k, bool) for k in classes):
        raise params.ParameterError(f"parameter 'classes'={classes!r} must be a list of class indices or None")
    if values["encoder_width"] % 4:
        raise params.ParameterError(f"parameter 'encoder_width'={values['encoder_width']} must be a multiple of 4")
    if not values["methods"]:
        raise params.ParameterError("parameter 'methods' is empty; valid: " + ", ".join(ALL_METHODS))


# ----------------------------------------------------------------------------- settings and data

@dataclass
class MethodSetting:
    """How the chapter builds and fits one method."""

    detector: str
    hyperparameters: dict[str, Any]
    iterations: int = 1
    batch_size: int = 1
    precision: str = "auto"        # training precision (adlib.precision)


def method_settings(values: dict[str, Any]) -> dict[str, MethodSetting]:
    """Each method's detector, hyperparameters and budget from the chapter's parameters."""
    p = values
    network = {"width": p["encoder_width"], "stem_stride": p["stem_stride"]}
    precision = p["precision"]
    return {
        "Two-stage": MethodSetting("zhu_two_stage", {**network, "ngf": p["decoder_ngf"], "lam": p["lam"],
                                                     "lr": p["dec_lr"], "rot_lr": p["rot_lr"],
                                                     "rot_iterations": p["rot_iterations"],
                                                     "rot_batch_size": p["rot_batch"]},
                                   p["dec_iterations"], p["dec_batch"], precision),
        "CAE": MethodSetting("zhu_cae", {**network, "ngf": p["decoder_ngf"], "lr": p["dec_lr"]},
                             p["cae_iterations"], p["dec_batch"], precision),
        "RotNet": MethodSetting("zhu_rotnet", {**network, "lr": p["rot_lr"]}, p["rot_iterations"], p["rot_batch"],
                                precision),
        "Deep SVDD": MethodSetting("deep_svdd", {"lr": p["svdd_lr"]}, p["svdd_iterations"], p["dec_batch"],
                                   precision),
        "OC-SVM": MethodSetting("ocsvm", {"nu": p["ocsvm_nu"], "gamma": "scale"}),
        "PCA": MethodSetting("pca", {"variance": p["pca_variance"]}),
    }


def settings_table(settings: dict[str, MethodSetting], methods) -> pd.DataFrame:
    """One row per method of the build: its detector, settings, budget and image score."""
    rows = []
    for method in methods:
        s = settings[method]
        cls = detectors.REGISTRY[s.detector]
        rows.append({"method": method, "detector": s.detector,
                     "settings": ", ".join(f"{k}={v}" for k, v in s.hyperparameters.items()),
                     "steps × batch": f"{s.iterations} × {s.batch_size}" if cls.takes_steps else "–",
                     "image score": cls.score_rule})
    return pd.DataFrame(rows)


def load_datasets(names, data_root: str | None, *, classes=None, download: bool = True,
                  train_fraction: float = 0.7, run: runtime.Run | None = None) -> dict:
    """{name: (ClassificationSet, normal classes to run)}, each dataset recorded in ``run``."""
    loaded = {}
    for name in names:
        with run.step(f"load {name}") if run is not None else contextlib.nullcontext():
            ds = oneclass.load(name, data_root, download=download, train_fraction=train_fraction)
        class_list = list(range(len(ds.classes))) if classes is None else [ds.check_class(k) for k in classes]
        loaded[name] = (ds, class_list)
        if run is not None:
            run.add_dataset(name, source=ds.source, classes=ds.classes, train=len(ds.train_x), test=len(ds.test_x),
                            shape=list(ds.train_x.shape[1:]),
                            checksum=runtime.array_checksum(ds.train_x, ds.test_x, ds.train_y, ds.test_y), **ds.info)
    return loaded


def data_overview(loaded: dict, max_train_per_class: int | None = None) -> pd.DataFrame:
    return pd.DataFrame([{
        "dataset": n, "classes": len(ds.classes), "channels": ds.channels,
        "image size": "×".join(map(str, ds.train_x.shape[2:])), "train images": len(ds.train_x),
        "test images": len(ds.test_x), "normal classes run": len(cl),
        "training images per model": int(min(np.bincount(ds.train_y).min(), max_train_per_class or np.inf)),
    } for n, (ds, cl) in loaded.items()])


# ----------------------------------------------------------------------------- the experiment

def auroc_of(scores, anomalous) -> float:
    scores, anomalous = np.asarray(scores, dtype=np.float64), np.asarray(anomalous, bool)
    return metrics.image_auroc_ap(scores[~anomalous], scores[anomalous])[0]


def display_indices(test_y: np.ndarray, k: int, n: int) -> list[int]:
    """The first n test images of class k and n anomalous ones from distinct other classes."""
    normal = np.flatnonzero(test_y == k)[:n].tolist()
    others = [c for c in np.unique(test_y) if c != k]
    anomalous = [int(np.flatnonzero(test_y == others[i % len(others)])[i // len(others)]) for i in range(n)]
    return normal + anomalous


@dataclass
class OneClassRun:
    """What :func:`run_one_class` returns for one dataset (keys (class, seed) or class)."""

    dataset: str
    class_names: list[str]
    classes: list[int]
    test_y: np.ndarray
    records: list[dict] = field(default_factory=list)        # dataset, method, class, seed, auroc
    ablation: list[dict] = field(default_factory=list)       # AUROC of each term of the two-stage score
    terms: dict = field(default_factory=dict)                # (k, s): {"mse", "ssim" (−SSIM), "anomalous"}
    cae_errors: dict = field(default_factory=dict)           # (k, s): the CAE's MSE per test image
    curves: dict = field(default_factory=dict)               # k: {method: (fpr, tpr)}, first seed
    panels: dict = field(default_factory=dict)               # k: inputs and reconstructions, first seed
    class_seconds: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    health: dict = field(default_factory=dict)               # (method, k, s): the model's Health
    health_rows: list[dict] = field(default_factory=list)    # model, class, seed, health: one per network
    reused_classes: list[int] = field(default_factory=list)  # classes read from the store, not run now


@dataclass
class ClassJob:
    """One normal class of :func:`run_one_class` (all its seeds and methods) as a job of
    :func:`adlib.grid.run_grid`: it carries its images, so it runs on any worker, and its spec
    names them by checksum."""

    dataset: str
    class_names: list[str]
    k: int
    normal: np.ndarray               # the class's training images (before the health hold-out)
    test: np.ndarray
    test_y: np.ndarray
    seeds: list[int]
    methods: list[str]
    settings: dict[str, MethodSetting]
    device: str
    health_fraction: float
    figure_images: int

    @functools.cached_property
    def _checksum(self) -> str:
        return runtime.array_checksum(self.normal, self.test, self.test_y)

    def spec(self) -> dict:
        """What decides this class's numbers: data, class, seeds, methods, settings, device type
        and adlib's code (:func:`adlib.grid.code_version`)."""
        return {"dataset": self.dataset, "k": self.k, "seeds": self.seeds, "methods": self.methods,
                "settings": {m: asdict(s) for m, s in sorted(self.settings.items())},
                "device": self.device.split(":")[0], "health_fraction": self.health_fraction,
                "figure_images": self.figure_images, "code": grid.code_version(), "data": self._checksum}

    def key(self) -> str:
        return grid.hashed(self.spec())

    def describe(self) -> str:
        return f"{self.dataset}, normal class {self.class_names[self.k]}"

    def run(self) -> dict:
        return run_class(self)


def run_one_class(dataset: oneclass.ClassificationSet, classes, seeds, methods,
                  settings: dict[str, MethodSetting], device, *, max_train: int | None = None,
                  health_fraction: float = HEALTH_FRACTION, figure_images: int = 4,
                  store: str | os.PathLike | None = None, executor: str = "serial", workers: int | None = None,
                  run: runtime.Run | None = None) -> OneClassRun:
    """Every method, normal class and seed on one dataset, each method through its detector.

    Before anything is fitted, ``health_fraction`` of the normal class's training images is
    held out (:func:`adlib.health.hold_out`, the same images for every method and seed);
    every method is fitted on the rest, and every trained model is checked on the held-out
    images (``run.health``, ``run.health_rows``). The RotNet score of a build that also runs
    the two-stage model is its stage 1 (the ``rotnet`` extra of the same fitted encoder, and
    the stage-1 part of its health); untrained methods (OC-SVM, PCA) are fitted once per class
    and their scores reused for every seed. With a ``run``, each method's fit and prediction
    time is added to its ``step_seconds``.

    Each normal class is one :class:`ClassJob` of :func:`adlib.grid.run_grid` on ``executor``
    (``"processes"`` with ``workers`` > 1 runs that many classes side by side: one small
    one-class model leaves most of a GPU idle), stored in ``store`` (a temporary folder when
    None), so an interrupted run resumes at the first class not yet done and a re-run with the
    same inputs and code trains nothing. A class that fails is reported by the grid and, once
    the others are stored, raised here.
    """
    methods = [m for m in ALL_METHODS if m in methods]
    out = OneClassRun(dataset.name, list(dataset.classes), list(classes), dataset.test_y)
    started = time.perf_counter()
    jobs = [ClassJob(dataset.name, list(dataset.classes), k, dataset.one_class(k, max_train)[0], dataset.test_x,
                     dataset.test_y, list(seeds), methods, settings, str(device), health_fraction, figure_images)
            for k in classes]
    with contextlib.nullcontext(store) if store is not None else tempfile.TemporaryDirectory() as folder:
        result = grid.run_grid(jobs, folder, executor, progress=False, workers=workers)
    if result.failed:
        raise RuntimeError(f"{dataset.name}: normal class(es) {', '.join(job.describe() for job, _ in result.failed)} "
                           f"failed (tracebacks above); the other classes are stored: "
                           + result.failed[-1][1].strip().splitlines()[-1])
    for payload in result.done:
        _merge(out, payload)
        if payload["key"] not in result.ran:
            out.reused_classes.append(payload["spec"]["k"])
        elif run is not None:
            for method, seconds in payload["method_seconds"].items():
                label = f"{dataset.name}: {method}"
                run.step_seconds[label] = round(run.step_seconds.get(label, 0.0) + seconds, 3)
    out.seconds = time.perf_counter() - started
    return out


def _merge(out: OneClassRun, payload: dict) -> None:
    """Add one stored class (:func:`run_class`'s payload as the store gives it back) to ``out``."""
    k, seeds = payload["spec"]["k"], payload["spec"]["seeds"]
    out.records += payload["records"]
    out.ablation += payload["ablation"]
    out.class_seconds += payload["class_seconds"]
    for record in payload["health"]:
        out.health[record["method"], k, record["seed"]] = health.Health.from_record(record)
    for s in seeds:
        out.health_rows += _health_rows(out.health, payload["spec"]["methods"], k, s, out.class_names[k])
    for kept in payload["scores"]:
        if "mse" in kept:
            out.terms[k, kept["seed"]] = {"mse": np.asarray(kept["mse"]), "ssim": np.asarray(kept["ssim"]),
                                          "anomalous": out.test_y != k}
        if "cae" in kept:
            out.cae_errors[k, kept["seed"]] = np.asarray(kept["cae"])
    out.curves[k] = {m: tuple(np.asarray(c) for c in curve) for m, curve in payload["curves"].items()}
    out.panels[k] = {name: np.asarray(v, np.float32 if name != "labels" else np.int64)
                     for name, v in payload["panel"].items()}


def run_class(job: ClassJob) -> dict:
    """One normal class of :func:`run_one_class`, every seed and method, in this process: the
    class's records, health records (per method and seed), scores kept for the tables (two-stage
    terms, CAE errors), the first seed's ROC curves and reconstructions, and its seconds."""
    k, methods, anomalous = job.k, job.methods, job.test_y != job.k
    train, held_out = health.hold_out(job.normal, job.health_fraction, seed=0)
    shown = display_indices(job.test_y, k, job.figure_images)
    out: dict[str, Any] = {"records": [], "ablation": [], "health": [], "scores": [], "class_seconds": [],
                           "method_seconds": {}}
    untrained: dict[str, np.ndarray] = {}
    for s in job.seeds:
        t0, scores, fitted, extra, healths = time.perf_counter(), {}, {}, {}, {}
        for method in methods:
            setting = job.settings[method]
            if method in untrained:
                scores[method], healths[method] = untrained[method], health.NOT_TRAINED
                continue
            if method == "RotNet" and "rotnet" in extra:
                scores[method], healths[method] = extra["rotnet"], stage_health(healths["Two-stage"], "rotnet_")
                continue
            detector = detectors.get(setting.detector, channels=job.normal.shape[1],
                                     image_size=int(max(train.shape[-2:])), seed=s, **setting.hyperparameters)
            start = time.perf_counter()
            detector.fit(train, iterations=setting.iterations, batch_size=setting.batch_size,
                         device=job.device, precision=setting.precision, progress=False)
            prediction = detector.predict(job.test)
            out["method_seconds"][method] = out["method_seconds"].get(method, 0.0) + time.perf_counter() - start
            scores[method], fitted[method] = prediction.scores, detector
            healths[method] = detector.health(held_out)
            if method == "Two-stage":
                extra = prediction.extra
            if not detector.takes_steps:
                untrained[method] = prediction.scores
        out["health"] += [h.record(method=m, seed=s) for m, h in healths.items()]
        out["records"] += [{"dataset": job.dataset, "method": m, "class": k, "seed": s, "auroc": auroc_of(v, anomalous)}
                           for m, v in scores.items()]
        kept = {"seed": s, "cae": scores.get("CAE")}
        if "Two-stage" in scores:
            kept.update(mse=extra["mse"], ssim=extra["ssim"])
            out["ablation"].append({"dataset": job.dataset, "class": k, "seed": s,
                                    "MSE term only": auroc_of(extra["mse"], anomalous),
                                    "SSIM term only": auroc_of(extra["ssim"], anomalous),
                                    "MSE − λ·SSIM": auroc_of(scores["Two-stage"], anomalous)})
        out["scores"].append({name: v for name, v in kept.items() if v is not None})
        if s == job.seeds[0]:
            out["curves"] = {m: roc_curve(anomalous, v)[:2] for m, v in scores.items()}
            out["panel"] = _panel(job.test[shown], job.test_y[shown], fitted)
        out["class_seconds"].append({"dataset": job.dataset, "class": k, "seed": s,
                                     "seconds": time.perf_counter() - t0})
    return out


# the networks of the two-stage model: the prefix of their checks in its health, and their name
TWO_STAGE_PARTS = {"rotnet_": "stage 1 (RotNet)", "mse_decoder_": "MSE decoder x̂₁", "ssim_decoder_": "SSIM decoder x̂₂"}


def stage_health(two_stage: health.Health, prefix: str) -> health.Health:
    """The health of one network of the two-stage model (``prefix`` of :data:`TWO_STAGE_PARTS`),
    judged on its own checks."""
    return health.assess({key[len(prefix):]: value for key, value in two_stage.checks.items()
                          if key.startswith(prefix)})


def _health_rows(healths: dict, methods: list[str], k: int, s: int, class_name: str) -> list[dict]:
    """One row per trained network of (class k, seed s): the two-stage model's three networks
    apart, the RotNet detector merged with stage 1 when it is the same network."""
    rows = []
    for method in methods:
        h = healths[method, k, s]
        if h.status == "not trained" or (method == "RotNet" and "Two-stage" in methods):
            continue
        if method == "Two-stage":
            for prefix, part in TWO_STAGE_PARTS.items():
                shared = prefix == "rotnet_" and "RotNet" in methods
                label = "RotNet = Two-stage stage 1" if shared else f"Two-stage {part}"
                rows.append({"model": label, "class": class_name, "seed": s, "health": stage_health(h, prefix)})
        else:
            rows.append({"model": method, "class": class_name, "seed": s, "health": h})
    return rows


def _panel(images: np.ndarray, labels: np.ndarray, fitted: dict) -> dict[str, np.ndarray]:
    panel = {"input": np.asarray(images), "labels": np.asarray(labels)}
    if "CAE" in fitted:
        panel["CAE"] = fitted["CAE"].reconstruct(images).numpy()
    if "Two-stage" in fitted:
        first, second = fitted["Two-stage"].reconstruct_both(images)
        panel["Two-stage x̂₁"], panel["Two-stage x̂₂"] = first.numpy(), second.numpy()
    return panel


# ----------------------------------------------------------------------------- health

def _model_label(model: str, class_name: str) -> str:
    return f"{model} (normal {class_name})"


def record_health(runs: dict[str, OneClassRun], run: runtime.Run) -> None:
    """Store one health record per trained network of every class and seed in ``run``
    (results.json ``health``)."""
    for name, r in runs.items():
        for row in r.health_rows:
            run.add_health(row["health"], dataset=name, model=_model_label(row["model"], row["class"]),
                           seed=row["seed"])


def method_healths(runs: dict[str, OneClassRun]) -> dict[str, dict[str, dict[str, health.Health]]]:
    """{dataset: {method: {"<method> (normal <class>, seed <s>)": Health}}}: every model a
    method's mean AUROC rests on (the two-stage model as one: its worst network)."""
    out: dict[str, dict[str, dict[str, health.Health]]] = {}
    for name, r in runs.items():
        for (method, k, s), h in r.health.items():
            label = f"{method} (normal {r.class_names[k]}, seed {s})"
            out.setdefault(name, {}).setdefault(method, {})[label] = h
    return out


def health_prose(runs: dict[str, OneClassRun]) -> str:
    """One sentence for the page: every trained network healthy, or which are not and why."""
    bad = [f"{_model_label(row['model'], row['class'])}, seed {row['seed']} on {name}: "
           f"{row['health'].summary()}"
           for name, r in runs.items() for row in r.health_rows if not row["health"].usable]
    total = sum(len(r.health_rows) for r in runs.values())
    if not bad:
        return f"all {total} trained networks of this build are healthy"
    return f"{len(bad)} of the {total} trained networks are not healthy — " + "; ".join(bad)


# ----------------------------------------------------------------------------- records and claims

def records(runs: dict[str, OneClassRun]) -> pd.DataFrame:
    """One row per (dataset, method, class, seed): its AUROC (0–1)."""
    return pd.DataFrame([r for run in runs.values() for r in run.records])


def headline(summary: dict[str, dict[str, dict]]) -> list[dict]:
    """The two-stage and CAE means beside the published ones, per dataset with a paper column."""
    return [{"what": f"{method} mean AUROC % ({name}; paper: {PAPER_COLUMN[name]})",
             "published": float(PUBLISHED[method][PAPER_COLUMN[name]]), "ours": methods[method]["mean"]}
            for name, methods in summary.items() if name in PAPER_COLUMN
            for method in ("Two-stage", "CAE") if method in methods]


def _cells(runs: dict[str, OneClassRun], name: str) -> pd.DataFrame:
    """AUROC (%) per (class, seed) cell and method on dataset ``name``."""
    table = records(runs)
    return 100 * table[table.dataset == name].pivot_table(index=["class", "seed"], columns="method", values="auroc")


def _class_mean_interval(values: pd.Series) -> tuple[float, float] | None:
    """Interval of the mean over classes of ``values`` (one per (class, seed) cell): a bootstrap of
    the seeds within each class, the classes kept fixed, as the paper's mean is over all of them.
    None with fewer than :data:`adlib.claims.MIN_SEEDS` seeds: run-to-run spread is then unknown."""
    values = values.dropna()
    seeds = values.groupby(level="class").size()
    if values.empty or seeds.min() < MIN_SEEDS:
        return None
    classes, _ = pd.factorize(values.index.get_level_values("class"))
    v = values.to_numpy()
    return paired_interval(lambda idx: float(np.mean(np.bincount(classes[idx], v[idx]) / np.bincount(classes[idx]))),
                           len(v), strata=classes)


def _claim_data(runs: dict[str, OneClassRun], name: str | None, cells: pd.DataFrame, paper: str) -> Data:
    about = f"{paper}, all 10 normal classes"
    if name is None:
        return Data(about, f"nothing: no {paper}-like dataset in this build", False)
    run = runs[name]
    classes = sorted(set(cells.index.get_level_values("class")))
    n_seeds = int(cells.groupby(level="class").size().min()) if len(cells) else 0
    full = name == paper and len(classes) == len(run.class_names)
    shown = "all 10 classes" if full else f"normal classes {', '.join(run.class_names[k] for k in classes)}"
    return Data(about, f"{name}, {shown}, {n_seeds} seed(s)", full)


def claims(runs: dict[str, OneClassRun], healths: dict) -> list[dict]:
    """The verdict table's rows (:mod:`adlib.claims`): on MNIST (all ten classes, else untested),
    the two-stage model beats a plain CAE and RotNet alone (paired gaps per class and seed) and is
    competitive with OCGAN (its mean within one point of OCGAN's 97.5 or above). ``healths``:
    :func:`method_healths`."""
    name = next((n for n in runs if n == "MNIST"), None) or next(
        (n for n in runs if PAPER_COLUMN.get(n) == "MNIST"), None)
    cells = _cells(runs, name) if name else pd.DataFrame()
    data = _claim_data(runs, name, cells, "MNIST")
    method = "bootstrap of the seeds within each class (classes fixed), 95 %"
    few = f"fewer than {MIN_SEEDS} seeds per class: run-to-run spread unknown"

    def models(*methods):
        return {label: h for m in methods for label, h in healths.get(name, {}).get(m, {}).items()}

    rows = []
    for baseline, text in (("CAE", "The two-stage model beats a plain CAE on MNIST (mean AUROC)"),
                           ("RotNet", "The two-stage model beats RotNet alone on MNIST (mean AUROC)")):
        paper_gap = PUBLISHED["Two-stage"]["MNIST"] - PUBLISHED[baseline]["MNIST"]
        if {"Two-stage", baseline} <= set(cells.columns):
            gaps = cells["Two-stage"] - cells[baseline]
            interval = _class_mean_interval(gaps)
            rows.append(judge(text, data, status=decide(interval, 0.0), models=models("Two-stage", baseline),
                              ours=float(gaps.groupby(level="class").mean().mean()), interval=interval,
                              interval_method=method, no_interval=few, published=paper_gap, unit="AUROC points"))
        else:
            rows.append(judge(text, data, published=paper_gap, unit="AUROC points",
                              no_interval=f"needs the two-stage model and {baseline} in the run",
                              no_models="not run"))
    ocgan = PUBLISHED["OCGAN"]["MNIST"]
    text = f"The two-stage model is competitive with OCGAN ({ocgan:.1f} on MNIST): within one point or above"
    if "Two-stage" in cells.columns:
        interval = _class_mean_interval(cells["Two-stage"])
        rows.append(judge(text, data, status=decide(interval, ocgan - 1), models=models("Two-stage"),
                          ours=float(cells["Two-stage"].groupby(level="class").mean().mean()), interval=interval,
                          interval_method=method, no_interval=few, published=ocgan, unit="AUROC %"))
    else:
        rows.append(judge(text, data, published=ocgan, unit="AUROC %", no_interval="needs the two-stage model",
                          no_models="not run"))
    return rows
