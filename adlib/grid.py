"""The cross-paper benchmark's grid as jobs: one job per (method, dataset, seed), run by a
serial loop, a local process pool or a Dask distributed cluster, each finished job stored as
one JSON file keyed by its spec.

- :class:`Job` is the spec: method and its settings, the dataset and how it is built, seed,
  budget and the version of adlib's code (a hash of its sources). Its :meth:`Job.key` names
  the stored file, so an interrupted grid resumes where it stopped, a re-render reads instead
  of re-running, and a changed spec or changed code re-runs only the jobs it changes.
- :func:`run_job` is pure: spec in, records out (it builds its dataset itself, so it runs on
  any worker that sees the data folder).
- :func:`run_grid` runs the jobs not yet stored on an ``executor``: ``"serial"`` (CI, a
  laptop), ``"processes"`` (a local pool; one worker per GPU when there are GPUs) or a Dask
  scheduler address (``tcp://host:8786``; ``"local"`` starts a ``LocalCluster``), where a CUDA
  job asks for one ``GPU`` resource. A job that raises is reported at once with its spec and
  traceback; the others go on.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Iterable

from tqdm.auto import tqdm

import adlib
from adlib.runtime import atomic_write_json

EXECUTORS = ("serial", "processes", "local")      # or a Dask scheduler address, tcp://host:port
TIMING_FIELDS = ("fit_seconds", "score_ms_per_image", "seconds", "host")   # may differ between executors


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of adlib's source files: any change to the code that computes re-runs the jobs."""
    digest = hashlib.sha256()
    root = Path(adlib.__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{adlib.__version__}+{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class Job:
    method: str
    dataset: str                       # an embedded set's key, or "folder:<category folder>"
    seed: int
    iterations: int
    batch_size: int
    data: tuple                        # embedded: (size, n_train, n_test, data seed); folder: (size, n_train, n_test per type)
    settings: tuple = ()               # benchmark.SETTINGS[method] as sorted items
    keep_example: bool = False         # store the first defective test image's map (the figure's seed)
    device: str = "cpu"                # where it runs ("cuda:1"); only its type is part of the key
    code: str = field(default_factory=code_version)

    def key(self) -> str:
        spec = {**asdict(self), "device": self.device.split(":")[0]}
        return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:20]

    def describe(self) -> str:
        return f"{self.method} on {self.dataset}, seed {self.seed}"


def jobs_for(sets: Iterable[str], methods: Iterable[str], seeds: list[int], *, data: dict[str, tuple],
             iterations: int, batch_size: int, device: str = "cpu") -> list[Job]:
    """The grid: every (dataset, seed, method), ``data[dataset]`` saying how to build it."""
    from adlib import benchmark

    return [Job(m, s, k, iterations, batch_size, data[s], tuple(sorted(benchmark.SETTINGS[m].items())),
                keep_example=k == seeds[0], device=device)
            for s in sets for k in seeds for m in methods]


_SETS: dict[tuple, Any] = {}        # (dataset, data) -> BenchmarkSet, per process


def remember(name: str, data: tuple, built) -> None:
    """Register a set the caller already built, so that jobs in this process do not build it again."""
    _SETS[name, data] = built


def dataset(name: str, data: tuple):
    """The :class:`adlib.benchmark.BenchmarkSet` of a job (built once per process)."""
    if (name, data) not in _SETS:
        _SETS[name, data] = _build(name, data)
    return _SETS[name, data]


def _build(name: str, data: tuple):
    from adlib import benchmark

    if name.startswith("folder:"):
        size, n_train, n_test_per_type = data
        (found,) = benchmark.folder_sets(name.removeprefix("folder:"), size, n_train, n_test_per_type)
        return found
    size, n_train, n_test, data_seed = data
    return benchmark.embedded_sets([name], size, n_train, n_test, seed=data_seed)[0]


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def run_job(job: Job) -> dict:
    """Fit, health-check and score one job: ``{"key", "spec", "records", "health", "example_maps",
    "seconds"}``, all JSON-ready (NaN as None)."""
    import time

    import numpy as np
    import torch

    from adlib import benchmark, detectors

    start = time.perf_counter()
    data = dataset(job.dataset, job.data)
    records, predictions, model_health = benchmark.run_one(job.method, data, seed=job.seed,
                                                           iterations=job.iterations,
                                                           batch_size=job.batch_size,
                                                           device=torch.device(job.device))
    example = int(np.flatnonzero(data.labels == 1)[0])
    maps = {label: p.maps[example].round(5).tolist() for label, p in predictions.items()
            if job.keep_example and p.maps is not None}
    trained = detectors.REGISTRY[job.method].trained
    return {"key": job.key(), "spec": asdict(job),
            "records": [{k: _plain(v) for k, v in r.items()} for r in records],
            "health": model_health.record(dataset=data.name, model=records[0]["method"], seed=job.seed)
            if trained else None,
            "example_maps": maps, "seconds": round(time.perf_counter() - start, 3)}


@dataclass
class GridResult:
    done: list[dict]                   # every stored job of the grid, in the grid's order
    failed: list[tuple[Job, str]]      # (job, traceback) of each job that raised
    ran: int                           # jobs run now (the others were read from the store)


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _pool(executor: str, n_jobs: int):
    """``(submit, close, as_completed)`` for a process pool or a Dask client."""
    if executor == "processes":
        import torch

        gpus = torch.cuda.device_count()
        workers = max(1, min(n_jobs, gpus or os.cpu_count() or 1))
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_init,
                                   initargs=(max(1, (os.cpu_count() or 1) // workers),))
        return (lambda job: pool.submit(run_job, job)), pool.shutdown, as_completed
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True) if executor == "local" else None
    client = Client(cluster if cluster is not None else executor)

    def submit(job: Job):
        gpu = {"GPU": 1} if job.device.startswith("cuda") else None
        return client.submit(run_job, job, resources=gpu, pure=False)

    def close(*_: Any) -> None:
        client.close()
        if cluster is not None:
            cluster.close()
    return submit, close, dask_completed


def run_grid(jobs: list[Job], store: str | os.PathLike, executor: str = "serial",
             progress: bool = True) -> GridResult:
    """Run the ``jobs`` whose result is not yet in ``store`` on ``executor``, storing each as it
    finishes (atomically, ``<store>/<key>.json``); a job that raises is reported on stderr at
    once with its spec and traceback, and the grid goes on."""
    store = Path(store)
    if executor not in EXECUTORS and not executor.startswith(("tcp://", "tls://", "ucx://")):
        raise ValueError(f"executor={executor!r}: choose one of {EXECUTORS} or a Dask scheduler address "
                         "(tcp://host:8786)")
    todo = [j for j in dict.fromkeys(jobs) if not (store / f"{j.key()}.json").exists()]
    failed: list[tuple[Job, str]] = []

    def finished(job: Job, payload: dict | None, error: str | None) -> None:
        if error is None:
            atomic_write_json(store / f"{job.key()}.json", payload)
        else:
            failed.append((job, error))
            print(f"grid: job failed ({job.describe()}): {json.dumps(asdict(job), default=str)}\n{error}",
                  file=sys.stderr, flush=True)

    bar = tqdm(total=len(todo), desc=f"benchmark jobs ({executor})", disable=not progress or not todo)
    if executor == "serial":
        for job in todo:
            try:
                finished(job, run_job(job), None)
            except Exception:           # noqa: BLE001 — reported with its spec, the grid goes on
                finished(job, None, traceback.format_exc())
            bar.update()
    elif todo:
        submit, close, completed = _pool(executor, len(todo))
        try:
            futures = {submit(job): job for job in todo}
            for future in completed(list(futures)):
                job = futures[future]
                try:
                    finished(job, future.result(), None)
                except Exception:       # noqa: BLE001
                    finished(job, None, traceback.format_exc())
                bar.update()
        finally:
            close()
    bar.close()
    done = [json.loads((store / f"{j.key()}.json").read_text()) for j in jobs
            if (store / f"{j.key()}.json").exists()]
    return GridResult(done, failed, len(todo))
