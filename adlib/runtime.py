"""Run-time plumbing shared by every chapter: device, seeds, atomic writes, provenance."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

import adlib

DEVICES = ("auto", "cpu", "cuda")


def select_device(requested: str = "auto") -> torch.device:
    """The torch device to use; 'auto' takes a GPU when one is present.

    Asking for 'cuda' where there is none fails at once instead of silently falling back
    to a CPU run that would take hours.
    """
    if requested not in DEVICES:
        raise ValueError(f"device={requested!r} is not one of {DEVICES}")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device='cuda' was asked for but torch sees no GPU; run with device='auto' or "
            "'cpu', or install a CUDA build of torch on a machine with a GPU"
        )
    return torch.device(requested)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and GPU) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


CUBLAS_WORKSPACE = ":4096:8"     # what deterministic cuBLAS needs (CUDA >= 10.2), see set_deterministic


def set_deterministic(on: bool) -> dict[str, Any]:
    """Ask torch for reproducible kernels (``on``) or its fastest ones, and say what is set.

    On: deterministic algorithms with ``warn_only`` (an op without a deterministic version
    warns instead of failing), cuDNN's benchmark autotuning off and its deterministic mode on,
    and ``CUBLAS_WORKSPACE_CONFIG`` (read when cuBLAS starts: set it before the first CUDA
    matrix product, i.e. at the start of a chapter). Off: torch's defaults. The returned
    settings go into the run's provenance.
    """
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(on, warn_only=True)
    torch.backends.cudnn.benchmark = False if on else torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic = on
    return determinism()


def determinism() -> dict[str, Any]:
    """The reproducibility settings in force, for provenance."""
    return {"deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}


_UMASK = os.umask(0)
os.umask(_UMASK)                           # read once: umask can only be read by setting it


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder and a rename.

    An interrupted run therefore never leaves a half-written file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)        # mkstemp makes 0600; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    return atomic_write_bytes(path, (text + "\n").encode())


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """torch.save through a temp file + rename (checkpoints are never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (Path, torch.device)):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def array_checksum(*arrays: np.ndarray) -> str:
    """A short sha256 of array contents: identifies generated data in provenance."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def git_commit() -> str:
    """The commit of the adlib checkout, with '+dirty' when files differ; 'unknown' outside git."""
    root = Path(adlib.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "adlib", "notebooks"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


# Where a chapter's wall time goes. adlib times its own work by kind (detectors' fit, predict
# and health checks; figures glued and slider frames rendered); Run.provenance reports the
# seconds of each kind and the rest (data, tables, verdicts, the notebook's own code). Nested
# timed work counts once, for the outermost kind: a fit callback that reconstructs is training.
TIME_KINDS = ("training", "scoring", "baselines", "figures and widgets")
_time_spent: dict[str, float] = dict.fromkeys(TIME_KINDS, 0.0)
_timing_now: list[str] = []


@contextlib.contextmanager
def timed(kind: str) -> Iterator[None]:
    """Add the time of the ``with`` block to ``kind`` (one of :data:`TIME_KINDS`)."""
    if kind not in TIME_KINDS:
        raise ValueError(f"timed: unknown kind {kind!r}; choose from {TIME_KINDS}")
    if _timing_now:                       # inside other timed work: counted there
        yield
        return
    _timing_now.append(kind)
    start = time.perf_counter()
    try:
        yield
    finally:
        _timing_now.pop()
        _time_spent[kind] += time.perf_counter() - start


class Run:
    """Collects what a chapter produced and how, then writes ``<name>.results.json``.

    Usage in a notebook::

        run = Run("schneider_cae_vae_aae", params, results_dir)
        with run.step("train chess"):
            ...
        run.results["table1"] = rows
        run.save()
    """

    def __init__(self, name: str, params: dict[str, Any], results_dir: str | os.PathLike,
                 device: torch.device | str = "cpu"):
        self.name = name
        self.params = dict(params)
        self.results_dir = Path(results_dir)
        self.device = str(device)
        self.results: dict[str, Any] = {}
        self.step_seconds: dict[str, float] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.health: list[dict[str, Any]] = []      # one record per trained model, see add_health
        self.data_fingerprint = ""                    # of the real-data folder (adlib.fingerprint), if any
        self._started = time.perf_counter()
        _time_spent.update(dict.fromkeys(TIME_KINDS, 0.0))   # this run's breakdown starts now
        # under adlib.execute: the seconds from its start to this run's (kernel start, imports)
        started = os.environ.get("ADLIB_EXECUTE_STARTED")
        self.kernel_start_seconds = round(max(time.time() - float(started), 0.0), 3) if started else 0.0

    @contextlib.contextmanager
    def step(self, label: str, kind: str | None = None) -> Iterator[None]:
        """Time a labelled step (``step_seconds``); ``kind`` also counts it in the time breakdown
        (for work adlib does not time itself, e.g. a baseline that is not a detector)."""
        start = time.perf_counter()
        try:
            with timed(kind) if kind else contextlib.nullcontext():
                yield
        finally:
            self.step_seconds[label] = round(
                self.step_seconds.get(label, 0.0) + time.perf_counter() - start, 3)

    def add_dataset(self, name: str, **info: Any) -> None:
        """Record a dataset used: at least its size and a checksum or source path."""
        self.datasets[name] = info

    def add_health(self, health, *, dataset: str, model: str, seed: int) -> dict[str, Any]:
        """Record a model's :class:`adlib.health.Health`; saved under ``health``. Returns the record."""
        record = health.record(dataset=dataset, model=model, seed=int(seed))
        self.health.append(record)
        return record

    def provenance(self) -> dict[str, Any]:
        return {
            "chapter": self.name,
            "profile": self.params.get("profile"),
            "seed": self.params.get("seed"),
            "parameters": self.params,
            "adlib_version": adlib.__version__,
            "git_commit": git_commit(),
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "device": self.device,
            "device_name": (torch.cuda.get_device_name(0) if self.device.startswith("cuda")
                            else platform.processor() or platform.machine()),
            "cpu_threads": torch.get_num_threads(),
            "cuda_version": torch.version.cuda,
            "determinism": determinism(),
            "datasets": self.datasets,
            "data_fingerprint": self.data_fingerprint,
            "step_seconds": self.step_seconds,
            "time_breakdown": self.time_breakdown(),
            "kernel_start_seconds": self.kernel_start_seconds,
            "wall_seconds": round(time.perf_counter() - self._started, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def time_breakdown(self) -> dict[str, float]:
        """Seconds of this run by kind (:data:`TIME_KINDS`) and ``rest``, summing to the wall time."""
        wall = time.perf_counter() - self._started
        spent = {kind: round(seconds, 3) for kind, seconds in _time_spent.items()}
        return {**spent, "rest": round(max(wall - sum(spent.values()), 0.0), 3)}

    def save(self) -> Path:
        payload = {**self.results, "health": self.health, "provenance": self.provenance()}
        return atomic_write_json(self.results_dir / f"{self.name}.results.json", payload)
