"""Speed figures of the study, measured in one run (targets live here, not in unit tests).

    python bench/speed.py              # CPU, and CUDA beside it when a GPU is present
    python bench/speed.py --tiny       # seconds: checks the script itself (used by the tests)
    make speed

Prints six tables and writes them to ``_build/speed.json`` (``--json``):

0. every trained detector's training step in float32 and in bfloat16 autocast (channels-last),
   at the quick profile's and at the paper's sizes, with the precision ``auto`` chooses
   (:mod:`adlib.precision`) and its speed-up over float32 (``train`` in the JSON);
1. every benchmark method's training step time and scoring time per image (64-pixel grey
   images), on the CPU and, with a GPU, on the GPU with the speed-up ratio (``score``);
2. adlib's chunked k-NN (torch) against scikit-learn's brute-force NearestNeighbors on the
   same bank and queries, with the ratio;
3. Soukup & Pinetz's claim: encoder-only scoring against the full autoencoder (ratio);
4. the feature-space detectors' fit and predict seconds at MVTec AD bottle's size (209 + 83
   images, 256 px RGB), PatchCore's against its 2-minute target (``features``);
5. the wall time of every executed chapter in book/generated against its profile's target
   (quick: the whole book on a 2-core CPU in minutes), flagged OVER when it exceeds it, and
   where that time went (``time_breakdown`` of its provenance: training, scoring, baselines,
   figures and widgets, the rest; and ``kernel_start_seconds``), with the largest share that is not training flagged
   when it exceeds training (``chapters``).

Every figure is the median of repeated runs in this one process; run it alone (two torch
processes on two cores thrash).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

from adlib import benchmark, detectors
from adlib.detectors import feature_space
from adlib.models import saeedi, soukup
from adlib.runtime import atomic_write_json

ROOT = Path(__file__).resolve().parent.parent
# Per-chapter wall-time targets in seconds, per profile (smoke: make test; quick: make book on 2 cores).
TARGETS = {"smoke": 60, "quick": 300}
TARGET_OVERRIDES = {("quick", "benchmark_cross_paper"): 480}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_seconds(fn, device: torch.device, repeats: int) -> float:
    fn()                                   # warm-up (allocations, cuDNN autotuning)
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# Each trained detector's network at the quick profile's and the paper's size: (hyperparameters,
# image shape (C, H, W), batch size), from notebooks/params/{quick,paper}/ and the chapters.
# saeedi_cpcae trains the same CPCAE as saeedi_ae_l2; zhu_two_stage is timed on its decoders
# (its stage 1 is zhu_rotnet's network).
TRAIN_CONFIGS = {
    "schneider_cae": {"quick": ({"patch": 32}, (1, 128, 128), 32), "paper": ({"patch": 128}, (1, 512, 512), 32)},
    "schneider_vae": {"quick": ({"patch": 32}, (1, 128, 128), 32), "paper": ({"patch": 128}, (1, 512, 512), 32)},
    "schneider_aae": {"quick": ({"patch": 32}, (1, 128, 128), 32), "paper": ({"patch": 128}, (1, 512, 512), 32)},
    "soukup_vae": {"quick": ({"patch": 64, "base_channels": 8, "latent_dim": 64}, (1, 128, 128), 16),
                   "paper": ({"patch": 64, "base_channels": 32, "latent_dim": 128}, (1, 128, 128), 64)},
    "fadaeinejad_cae": {"quick": ({"work_size": 64, "latent": 500}, (3, 64, 64), 16),
                        "paper": ({"work_size": 256, "latent": 500}, (3, 256, 256), 32)},
    "saeedi_ae_l2": {"quick": ({"work_size": 128, "patch": 32, "stride": 16, "latent": 64}, (1, 300, 300), 32),
                     "paper": ({"work_size": 256, "patch": 64, "stride": 32, "latent": 128}, (3, 512, 512), 128)},
    "zhu_cae": {"quick": ({"width": 8, "stem_stride": 2, "ngf": 16}, (1, 28, 28), 32),
                "paper": ({"width": 64, "stem_stride": 1, "ngf": 64}, (1, 28, 28), 128)},
    "zhu_two_stage": {"quick": ({"width": 8, "stem_stride": 2, "ngf": 16, "rot_iterations": 1}, (1, 28, 28), 32),
                      "paper": ({"width": 64, "stem_stride": 1, "ngf": 64, "rot_iterations": 1,
                                 "rot_batch_size": 2}, (1, 28, 28), 128)},
    "zhu_rotnet": {"quick": ({"width": 8, "stem_stride": 2}, (1, 28, 28), 24),
                   "paper": ({"width": 64, "stem_stride": 1}, (1, 28, 28), 128)},
    "deep_svdd": {"quick": ({}, (1, 28, 28), 32), "paper": ({}, (1, 28, 28), 128)},
    # the feature-space autoencoders train on the frozen backbone's features of the images
    "feature_ae": {"quick": ({}, (1, 64, 64), 32), "paper": ({}, (3, 256, 256), 32)},
    "reverse_distillation": {"quick": ({}, (1, 64, 64), 32), "paper": ({}, (3, 256, 256), 16)},
}


SAME_NETWORK = {"saeedi_cpcae": "saeedi_ae_l2"}     # timed once, under the second name


def untimed_detectors() -> list[str]:
    """Trained detectors of the registry without a TRAIN_CONFIGS entry (a test keeps this empty)."""
    return sorted(name for name, cls in detectors.REGISTRY.items()
                  if cls.takes_steps and SAME_NETWORK.get(name, name) not in TRAIN_CONFIGS)
# steps per timed fit and repeats per mode (the paper's RotNet step takes seconds on 2 cores)
TIMING = {"quick": (30, 3), "paper": (3, 2), "tiny": (1, 1)}


def fit_step_ms(name: str, config: tuple, device: torch.device, precision: str, steps: int):
    """Milliseconds per training step of one fit (the loop alone), and the detector."""
    hyperparameters, shape, batch = config
    detector = detectors.get(name, channels=shape[0], image_size=shape[-1], seed=0, **hyperparameters)
    images = torch.rand(8, *shape, generator=torch.Generator().manual_seed(0))
    detector.fit(images, iterations=steps, batch_size=batch, device=device, precision=precision, progress=False)
    return 1000 * detector.history.seconds / steps, detector


def train_row(name: str, config_name: str, device: torch.device, tiny: bool) -> dict:
    """fp32 and bf16 step times of one detector and size, and what ``auto`` chooses there."""
    if tiny:
        config = (detectors.REGISTRY[name].quick_check, (1, 32, 32), 4)
    else:
        config = TRAIN_CONFIGS[name][config_name]
    steps, repeats = TIMING["tiny" if tiny else config_name]
    _, detector = fit_step_ms(name, config, device, "auto", 1)            # auto's choice, and a warm-up
    mode, gflop = detector.history.precision, detector.history.step_gflop
    if not tiny:
        for precision in ("fp32", "bf16"):                                  # warm-up of each mode
            fit_step_ms(name, config, device, precision, 1)
    times = {"fp32": [], "bf16": []}
    for _ in range(repeats):
        for precision in times:
            times[precision].append(fit_step_ms(name, config, device, precision, steps)[0])
    ms = {precision: statistics.median(values) for precision, values in times.items()}
    return {"detector": name, "device": device.type, "config": config_name, "step GFLOP": gflop,
            "batch": config[2], "mode": mode, "fp32_ms": ms["fp32"], "bf16_ms": ms["bf16"],
            "chosen_ms": ms[mode], "speedup": ms["fp32"] / ms[mode]}


def train_rows(devices: list[torch.device], tiny: bool) -> list[dict]:
    if untimed_detectors():
        raise SystemExit(f"bench/speed.py: add TRAIN_CONFIGS entries for {untimed_detectors()}")
    names = list(TRAIN_CONFIGS)
    return [train_row(name, config_name, device, tiny) for device in devices
            for config_name in (("quick",) if tiny else ("quick", "paper")) for name in names]


def method_rows(devices: list[torch.device], tiny: bool) -> list[dict]:
    (data,) = benchmark.embedded_sets(["objects"], 64, 16 if tiny else 64, 4 if tiny else 16)
    steps = 2 if tiny else 20
    rows = []
    for name in benchmark.METHODS:
        row = {"method": name}
        for device in devices:
            detector = benchmark.build(name, image_size=64, seed=0)
            detector.fit(data.train, iterations=steps, batch_size=8 if tiny else 32, device=device, progress=False)
            score = median_seconds(lambda: detector.predict(data.test), device, 1 if tiny else 3)
            # untrained detectors (k-NN on CNN features, PCA) only embed or decompose the training set
            row[f"fit ms/step {device.type}"] = 1000 * detector.fit_seconds / steps if detector.takes_steps else "–"
            row[f"fit s {device.type}"] = detector.fit_seconds
            row[f"score ms/image {device.type}"] = 1000 * score / len(data.test)
        if len(devices) == 2:
            row["score speed-up cuda/cpu"] = row["score ms/image cpu"] / row["score ms/image cuda"]
        rows.append(row)
    return rows


# MVTec AD bottle's split: 209 training images, 83 test images, 256 px RGB after resizing (the
# issue's target: PatchCore's fit + predict within 2 minutes on a 2-core CPU). Random images of
# that shape: the time depends on the counts and sizes, not on what the images show.
MVTEC_SHAPE = {"train": 209, "test": 83, "size": 256, "channels": 3}
FEATURE_TARGETS = {"patchcore": 120.0}     # seconds for fit + predict


def feature_rows(device: torch.device, tiny: bool) -> list[dict]:
    """Fit and predict seconds of the feature-space detectors at MVTec AD's size, at their defaults
    (steps and batch size included)."""
    shape = MVTEC_SHAPE if not tiny else {"train": 6, "test": 4, "size": 64, "channels": 3}
    generator = torch.Generator().manual_seed(0)
    train = torch.rand(shape["train"], shape["channels"], shape["size"], shape["size"], generator=generator)
    test = torch.rand(shape["test"], shape["channels"], shape["size"], shape["size"], generator=generator)
    rows = []
    for name, cls in detectors.REGISTRY.items():
        if cls.__module__ != feature_space.__name__:       # PatchCore, PaDiM and the feature-space AEs
            continue
        detector = detectors.get(name, channels=shape["channels"], image_size=shape["size"], seed=0)
        steps = 2 if tiny else cls.iterations
        detector.fit(train, iterations=steps, batch_size=2 if tiny else None, device=device, progress=False)
        start = time.perf_counter()
        detector.predict(test)
        _sync(device)
        predict = time.perf_counter() - start
        target = FEATURE_TARGETS.get(name)
        total = detector.fit_seconds + predict
        rows.append({"detector": name, "device": device.type,
                     "images": f"{shape['train']} + {shape['test']} × {shape['channels']}×{shape['size']}²",
                     "steps": steps if cls.takes_steps else "–", "fit s": detector.fit_seconds, "predict s": predict,
                     "total s": total, "target s": target or "–",
                     "": "" if target is None or tiny else ("ok" if total <= target else "OVER")})
    return rows


def knn_row(device: torch.device, tiny: bool) -> dict:
    rng = np.random.default_rng(0)
    bank_size, queries_size, dim, k = (500, 50, 64, 5) if tiny else (20_000, 2_000, 768, 15)
    bank = rng.standard_normal((bank_size, dim)).astype(np.float32)
    queries = rng.standard_normal((queries_size, dim)).astype(np.float32)
    ours = saeedi.KNNScorer(k, device).fit(bank)
    theirs = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(bank)
    t_ours = median_seconds(lambda: ours.distances(queries), device, 1 if tiny else 3)
    t_sklearn = median_seconds(lambda: theirs.kneighbors(queries), torch.device("cpu"), 1 if tiny else 3)
    return {"bank × queries × dim": f"{bank_size} × {queries_size} × {dim}", "device": str(device),
            "adlib KNNScorer s": t_ours, "sklearn brute s": t_sklearn, "sklearn / adlib": t_sklearn / t_ours}


def soukup_row(device: torch.device, tiny: bool) -> dict:
    model = soukup.build(input_size=64, in_channels=1).to(device)
    batch = torch.rand(8 if tiny else 64, 1, 64, 64)
    timing = soukup.time_scoring(model, batch, repeats=2 if tiny else 20, warmup=1 if tiny else 3)
    return {"device": str(device), "encoder ms": 1000 * timing["encoder"], "full ms": 1000 * timing["full"],
            "full / encoder": timing["speedup"], "paper": "> 2"}


def chapter_rows(generated: Path) -> list[dict]:
    rows = []
    for path in sorted(generated.glob("*.results.json")):
        prov = json.loads(path.read_text()).get("provenance", {})
        chapter, profile = path.name.removesuffix(".results.json"), prov.get("profile")
        target = TARGET_OVERRIDES.get((profile, chapter), TARGETS.get(profile))
        wall = prov.get("wall_seconds", float("nan"))
        rows.append({"chapter": chapter, "profile": profile, "device": prov.get("device"),
                     "cpu threads": prov.get("cpu_threads"), "wall s": wall,
                     "target s": target if target is not None else "–",
                     "": "" if target is None else ("ok" if wall <= target else "OVER"),
                     **breakdown_columns(prov.get("time_breakdown"), wall, prov.get("kernel_start_seconds", 0.0))})
    return rows


def chapter_records(generated: Path) -> list[dict]:
    """``chapters`` of speed.json: each chapter's wall time and its seconds by kind."""
    records = []
    for path in sorted(generated.glob("*.results.json")):
        prov = json.loads(path.read_text()).get("provenance", {})
        breakdown = prov.get("time_breakdown") or {}
        record = {"chapter": path.name.removesuffix(".results.json"), "profile": prov.get("profile"),
                  "device": prov.get("device"), "wall_seconds": prov.get("wall_seconds"),
                  "kernel_start_seconds": prov.get("kernel_start_seconds", 0.0)}
        record.update({f"{kind.replace(' ', '_')}_seconds": seconds for kind, seconds in breakdown.items()})
        if breakdown:
            others = {**breakdown, "kernel start": record["kernel_start_seconds"]}
            others.pop("training", None)
            record["largest_other"] = max(others, key=others.get)
            record["training_largest"] = breakdown.get("training", 0.0) >= max(others.values())
        records.append(record)
    return records


def summary(train: list[dict]) -> list[str]:
    """The lines that say whether the precision targets hold (median speed-up at paper sizes,
    no chosen mode slower than float32)."""
    lines = []
    for device in sorted({row["device"] for row in train}):
        rows = [row for row in train if row["device"] == device]
        paper = [row["speedup"] for row in rows if row["config"] == "paper"]
        if paper:
            lines.append(f"{device}: median training speed-up of auto over fp32 at paper sizes: "
                         f"{statistics.median(paper):.2f}x over {len(paper)} detectors (target >= 1.5)")
        slowest = min(rows, key=lambda row: row["speedup"])
        lines.append(f"{device}: slowest chosen mode vs fp32: {slowest['speedup']:.2f}x ({slowest['detector']}, "
                     f"{slowest['config']}, {slowest['mode']}; target >= 0.95)")
    return lines


def breakdown_columns(breakdown: dict | None, wall: float, kernel_start: float = 0.0) -> dict:
    """Each kind's share of the chapter's time (its run's wall time plus the kernel's start)
    and the largest share that is not training, marked "> training" when it exceeds the
    training share (runs recorded before the breakdown: –)."""
    if not breakdown or not wall > 0:
        return {"time breakdown": "–"}
    total = wall + kernel_start
    shares = {kind: seconds / total for kind, seconds in {**breakdown, "kernel start": kernel_start}.items()}
    columns = {f"{kind} %": f"{100 * share:.0f}" for kind, share in shares.items()}
    kind, share = max(((k, s) for k, s in shares.items() if k != "training"), key=lambda ks: ks[1])
    columns["largest other"] = kind + (" > training" if share > shares.get("training", 0.0) else "")
    return columns


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n## {title}\n")
    if not rows:
        print("(nothing measured)")
        return
    header = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[(f"{v:.3g}" if isinstance(v, float) else str(v)) for v in (row.get(h, "") for h in header)]
             for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: check that the script runs")
    parser.add_argument("--generated", type=Path, default=ROOT / "book" / "generated",
                        help="where the executed chapters' results.json are")
    parser.add_argument("--json", type=Path, default=ROOT / "_build" / "speed.json",
                        help="where to write the figures as JSON")
    args = parser.parse_args(argv)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"GPU: {torch.cuda.get_device_name(0) if len(devices) == 2 else 'none'}")
    train = train_rows(devices, args.tiny)
    print_table("Training step: fp32 vs bf16 autocast (channels-last), and auto's choice (ms per step, "
                "median of repeated fits; quick and paper sizes)", train)
    methods = method_rows(devices, args.tiny)
    print_table("Benchmark methods: training step and scoring time (64-pixel grey images, batch 32, "
                "20 steps; fit s includes building the model and any embedding of the training set)", methods)
    features = [row for d in devices for row in feature_rows(d, args.tiny)]
    print_table("Feature-space methods at MVTec AD size (bottle's 209 training and 83 test images, 256 px RGB; "
                "fit includes the backbone's features; default steps for those that train)", features)
    print_table("k-NN scoring: adlib (torch, chunked) vs scikit-learn brute force",
                [knn_row(d, args.tiny) for d in devices])
    print_table("Soukup & Pinetz: encoder-only vs full-model scoring", [soukup_row(d, args.tiny) for d in devices])
    rows = chapter_rows(args.generated)
    print_table(f"Chapter wall times ({args.generated})", rows)
    over = [r["chapter"] for r in rows if r[""] == "OVER"]
    if over:
        print(f"\nOVER target: {', '.join(over)}")
    not_training = [f"{r['chapter']} ({r['largest other'].removesuffix(' > training')})" for r in rows
                    if r.get("largest other", "").endswith("> training")]
    if not_training:
        print(f"\nMore time outside training than in it: {', '.join(not_training)}")
    print()
    print("\n".join(summary(train)))
    score = [{"detector": row["method"], "device": device.type, "config": "benchmark 64 px", "mode": "fp32",
              "ms_per_image": row[f"score ms/image {device.type}"]} for row in methods for device in devices]
    atomic_write_json(args.json, {"torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
                                  "gpu": torch.cuda.get_device_name(0) if len(devices) == 2 else None,
                                  "train": train, "score": score, "features": features, "chapters": chapter_records(args.generated)})
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
