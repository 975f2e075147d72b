"""Speed figures of the study, measured in one run (targets live here, not in unit tests).

    python bench/speed.py              # CPU, and CUDA beside it when a GPU is present
    python bench/speed.py --tiny       # seconds: checks the script itself (used by the tests)
    make speed

Prints four tables:

1. every benchmark method's training step time and scoring time per image (64-pixel grey
   images), on the CPU and, with a GPU, on the GPU with the speed-up ratio;
2. adlib's chunked k-NN (torch) against scikit-learn's brute-force NearestNeighbors on the
   same bank and queries, with the ratio;
3. Soukup & Pinetz's claim: encoder-only scoring against the full autoencoder (ratio);
4. the wall time of every executed chapter in book/generated against its profile's target
   (quick: the whole book on a 2-core CPU in minutes), flagged OVER when it exceeds it, and
   where that time went (``time_breakdown`` of its provenance: training, scoring, baselines,
   figures and widgets, the rest; and ``kernel_start_seconds``), with the largest share that is not training flagged
   when it exceeds training.
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

from adlib import benchmark
from adlib.models import saeedi, soukup

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
            row[f"fit ms/step {device.type}"] = 1000 * detector.fit_seconds / steps if detector.trained else "–"
            row[f"fit s {device.type}"] = detector.fit_seconds
            row[f"score ms/image {device.type}"] = 1000 * score / len(data.test)
        if len(devices) == 2:
            row["score speed-up cuda/cpu"] = row["score ms/image cpu"] / row["score ms/image cuda"]
        rows.append(row)
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
    args = parser.parse_args(argv)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"GPU: {torch.cuda.get_device_name(0) if len(devices) == 2 else 'none'}")
    print_table("Benchmark methods: training step and scoring time (64-pixel grey images, batch 32, "
                "20 steps; fit s includes building the model and any embedding of the training set)",
                method_rows(devices, args.tiny))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
