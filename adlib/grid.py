"""Stored jobs: each finished job one JSON file keyed by its spec, run by a serial loop, a local
process pool or a Dask distributed cluster. The cross-paper benchmark's grid (one :class:`Job`
per method, dataset and seed) and Zhu's one-class classes (:class:`adlib.papers.zhu.ClassJob`)
both run here: one runner, one store format, one resume rule.

- A job has a :meth:`~Job.spec` (JSON-ready: everything that decides its result, adlib's code
  version included — a hash of its sources), a :meth:`~Job.key` (a hash of the spec) naming
  its stored file, a :meth:`~Job.describe` for messages, a ``device`` and a pure
  :meth:`~Job.run` returning JSON-ready data (NumPy arrays and scalars allowed: the store
  writes them as lists). So an interrupted grid resumes where it stopped, a re-render reads
  instead of re-running, and a changed spec or changed code re-runs only the jobs it changes.
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
from adlib.runtime import atomic_write_json, timed

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


def hashed(spec: dict) -> str:
    """A job's key: a short hash of its spec."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Job:
    """One benchmark job: a method on a dataset with a seed."""

    method: str
    dataset: str                       # an embedded set's key, or "folder:<category folder>"
    seed: int
    iterations: int
    batch_size: int
    data: tuple                        # embedded: (size, n_train, n_test, data seed); folder: (size, n_train, n_test per type)
    settings: tuple = ()               # benchmark.SETTINGS[method] as sorted items
    keep_example: bool = False         # store the first defective test image's map (the figure's seed)
    until_converged: bool = False      # iterations is a cap: train until the held-out error stops improving
    device: str = "cpu"                # where it runs ("cuda:1"); only its type is part of the key
    code: str = field(default_factory=code_version)

    def spec(self) -> dict:
        return {**asdict(self), "device": self.device.split(":")[0]}

    def key(self) -> str:
        return hashed(self.spec())

    def describe(self) -> str:
        return f"{self.method} on {self.dataset}, seed {self.seed}"

    def run(self) -> dict:
        """Fit, health-check and score the job (it builds its dataset itself, so it runs on any
        worker that sees the data folder): ``{"records", "health", "example_maps", "seconds"}``,
        JSON-ready (NaN as None)."""
        import time

        import numpy as np
        import torch

        from adlib import benchmark, detectors

        start = time.perf_counter()
        data = dataset(self.dataset, self.data)
        records, predictions, model_health = benchmark.run_one(self.method, data, seed=self.seed,
                                                               iterations=self.iterations,
                                                               batch_size=self.batch_size,
                                                               device=torch.device(self.device),
                                                               until_converged=self.until_converged)
        example = int(np.flatnonzero(data.labels == 1)[0])
        maps = {label: p.maps[example].round(5).tolist() for label, p in predictions.items()
                if self.keep_example and p.maps is not None}
        trained = detectors.REGISTRY[self.method].takes_steps
        return {"records": [{k: _plain(v) for k, v in r.items()} for r in records],
                # every test image's score per reported label: the exam's paired bootstrap resamples them
                "test_scores": {label: p.scores.round(6).tolist() for label, p in predictions.items()},
                "test_labels": data.labels.astype(int).tolist(),
                "health": model_health.record(dataset=data.name, model=records[0]["method"], seed=self.seed)
                if trained else None,
                "example_maps": maps, "seconds": round(time.perf_counter() - start, 3)}


def jobs_for(sets: Iterable[str], methods: Iterable[str], seeds: list[int], *, data: dict[str, tuple],
             iterations: int, batch_size: int, device: str = "cpu", until_converged: bool = False) -> list[Job]:
    """The grid: every (dataset, seed, method), ``data[dataset]`` saying how to build it."""
    from adlib import benchmark

    return [Job(m, s, k, iterations, batch_size, data[s], tuple(sorted(benchmark.SETTINGS[m].items())),
                keep_example=k == seeds[0], device=device, until_converged=until_converged)
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


@dataclass
class GridResult:
    done: list[dict]                   # every stored job's {"key", "spec", **its run()}, in the jobs' order
    failed: list[tuple[Any, str]]      # (job, traceback) of each job that raised
    ran: list[str]                     # keys of the jobs run now (the others were read from the store)


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run(job) -> dict:
    return job.run()


def _pool(executor: str, n_jobs: int, workers: int | None):
    """``(submit, close, as_completed)`` for a process pool or a Dask client."""
    if executor == "processes":
        import torch

        workers = max(1, min(n_jobs, workers or torch.cuda.device_count() or os.cpu_count() or 1))
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_init,
                                   initargs=(max(1, (os.cpu_count() or 1) // workers),))
        return (lambda job: pool.submit(_run, job)), pool.shutdown, as_completed
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    # "local" without workers: two, the fewest that show the jobs running side by side
    cluster = (LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True)
               if executor == "local" else None)
    client = Client(cluster if cluster is not None else executor)

    def submit(job):
        gpu = {"GPU": 1} if job.device.startswith("cuda") else None
        return client.submit(_run, job, resources=gpu, pure=False)

    def close(*_: Any) -> None:
        client.close()
        if cluster is not None:
            cluster.close()
    return submit, close, dask_completed


def run_grid(jobs: list, store: str | os.PathLike, executor: str = "serial", progress: bool = True,
             workers: int | None = None) -> GridResult:
    """Run the ``jobs`` whose result is not yet in ``store`` on ``executor``, storing each as it
    finishes (atomically, ``<store>/<key>.json``: ``{"key", "spec", **job.run()}``); a job that
    raises is reported on stderr at once with its spec and traceback, and the grid goes on.
    ``workers``: jobs at once under ``processes`` (default one per GPU, else one per CPU core;
    more than one per GPU fills a GPU that one small model leaves idle) or ``local``."""
    store = Path(store)
    if executor not in EXECUTORS and not executor.startswith(("tcp://", "tls://", "ucx://")):
        raise ValueError(f"executor={executor!r}: choose one of {EXECUTORS} or a Dask scheduler address "
                         "(tcp://host:8786)")
    unique: dict[str, Any] = {}
    for job in jobs:
        unique.setdefault(job.key(), job)
    todo = {key: job for key, job in unique.items() if not (store / f"{key}.json").exists()}
    failed: list[tuple[Any, str]] = []

    def finished(key: str, job, result) -> None:
        """Store ``result()`` under ``key``, or report why it (or storing it) failed."""
        try:
            atomic_write_json(store / f"{key}.json", {"key": key, "spec": job.spec(), **result()})
        except Exception:               # noqa: BLE001 — reported with its spec, the grid goes on
            failed.append((job, traceback.format_exc()))
            print(f"grid: job failed ({job.describe()}): {json.dumps(job.spec(), default=str)}\n{failed[-1][1]}",
                  file=sys.stderr, flush=True)

    bar = tqdm(total=len(todo), desc=f"jobs ({executor})", disable=not progress or not todo)
    if executor == "serial":
        for key, job in todo.items():
            finished(key, job, job.run)
            bar.update()
    elif todo:
        submit, close, completed = _pool(executor, len(todo), workers)
        try:
            # the jobs' own timing stays in the workers: here their wall time counts as training
            with timed("training"):
                futures = {submit(job): key for key, job in todo.items()}
                for future in completed(list(futures)):
                    finished(futures[future], todo[futures[future]], future.result)
                    bar.update()
        finally:
            close()
    bar.close()
    done = [json.loads((store / f"{key}.json").read_text()) for key in unique if (store / f"{key}.json").exists()]
    return GridResult(done, failed, list(todo))
