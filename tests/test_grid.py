"""adlib.grid: the benchmark grid as stored jobs on a serial loop, a process pool or Dask."""

import json
from dataclasses import dataclass

import numpy as np
import pytest

from adlib import grid

TINY = {"brick": (32, 16, 4, 0)}          # size, n_train, n_test, data seed


def jobs(methods=("pca", "schneider_cae"), seeds=(0, 1)):
    return grid.jobs_for(["brick"], list(methods), list(seeds), data=TINY, iterations=2, batch_size=4)


# Another process (a Dask worker) runs with its own thread count, so oneDNN's and numpy's
# reductions may sum in another order: scores can differ in float32's last bits (relative
# ~1e-7) and the float64 metrics summed over them in their last bits (0.7714777964641629 vs
# ...28 seen). Nothing in the code guarantees bit equality across processes, so the records must
# be the same *results*: same jobs and fields, every number within this relative tolerance (a
# rank metric such as an AUROC only moves more if two scores within 1e-6 of each other swap).
ACROSS_PROCESSES = 1e-6


def comparable(done):
    """Records without the fields allowed to differ between executors (timings, host)."""
    return [[{k: v for k, v in r.items() if k not in grid.TIMING_FIELDS} for r in p["records"]] for p in done]


def assert_same_results(a, b):
    """Same jobs, same fields, same texts; numbers equal within ACROSS_PROCESSES."""
    a, b = comparable(a), comparable(b)
    assert [[set(r) for r in job] for job in a] == [[set(r) for r in job] for job in b]
    for job_a, job_b in zip(a, b):
        for ra, rb in zip(job_a, job_b):
            for key, value in ra.items():
                if isinstance(value, float):
                    assert rb[key] == pytest.approx(value, rel=ACROSS_PROCESSES, abs=1e-12), (ra["method"], key)
                else:
                    assert rb[key] == value, (ra["method"], key)


def test_the_key_follows_the_spec_and_the_code():
    a, b = jobs()[:2]
    assert a.key() != b.key() and a.key() == grid.Job(**{**a.__dict__}).key()
    assert grid.Job(**{**a.__dict__, "device": "cuda:1"}).key() == grid.Job(**{**a.__dict__, "device": "cuda:0"}).key()
    assert grid.Job(**{**a.__dict__, "code": "other"}).key() != a.key()          # changed code re-runs
    assert grid.Job(**{**a.__dict__, "iterations": 3}).key() != a.key()


def test_an_interrupted_grid_runs_only_the_missing_jobs(tmp_path):
    every = jobs()
    first = grid.run_grid(every[:1], tmp_path, progress=False)          # as if killed after one job
    assert first.ran == [every[0].key()] and len(list(tmp_path.glob("*.json"))) == 1
    again = grid.run_grid(every, tmp_path, progress=False)
    assert len(again.ran) == len(every) - 1 and len(again.done) == len(every) and not again.failed
    assert grid.run_grid(every, tmp_path, progress=False).ran == []       # a re-render reads
    record = again.done[0]["records"][0]
    assert record["pixel_auroc"] is not None and 0 <= record["image_auroc"] <= 1
    assert json.loads((tmp_path / f"{every[0].key()}.json").read_text())["spec"]["method"] == "pca"


def test_a_failing_job_is_reported_with_its_spec_and_the_rest_completes(tmp_path, capsys):
    broken = grid.Job("pca", "folder:/no/such/folder", 0, 2, 4, (32, 4, 2))
    result = grid.run_grid([broken, *jobs(seeds=(0,))], tmp_path, progress=False)
    assert len(result.done) == 2 and [job for job, _ in result.failed] == [broken]
    err = capsys.readouterr().err
    assert "grid: job failed (pca on folder:/no/such/folder, seed 0)" in err and "Traceback" in err


@dataclass
class Square:
    """Any job type runs on the grid: spec, key, describe, device and a pure run()."""

    n: int
    device: str = "cpu"

    def spec(self):
        return {"n": self.n, "code": grid.code_version()}

    def key(self):
        return grid.hashed(self.spec())

    def describe(self):
        return f"square of {self.n}"

    def run(self):
        if self.n < 0:
            raise ValueError("negative")
        return {"square": np.arange(self.n) ** 2}          # arrays are stored as lists


def test_any_job_type_runs_and_its_arrays_are_stored_as_lists(tmp_path, capsys):
    result = grid.run_grid([Square(3), Square(-1), Square(3), Square(2)], tmp_path, progress=False)
    assert [p["square"] for p in result.done] == [[0, 1, 4], [0, 1]]         # a repeated job runs once
    assert [job for job, _ in result.failed] == [Square(-1)] and len(result.ran) == 3
    assert "grid: job failed (square of -1): {" in capsys.readouterr().err
    assert grid.run_grid([Square(3), Square(2)], tmp_path, progress=False).ran == []


def test_an_unknown_executor_is_refused(tmp_path):
    with pytest.raises(ValueError, match="executor='dask'"):
        grid.run_grid(jobs(), tmp_path, executor="dask")


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_serial_records(tmp_path):
    pytest.importorskip("distributed")
    every = jobs()
    serial = grid.run_grid(every, tmp_path / "serial", progress=False)
    broken = grid.Job("pca", "folder:/no/such/folder", 0, 2, 4, (32, 4, 2))
    dask = grid.run_grid([*every, broken], tmp_path / "dask", executor="local", progress=False)
    assert [job for job, _ in dask.failed] == [broken]
    assert [p["key"] for p in dask.done] == [p["key"] for p in serial.done]
    assert_same_results(dask.done, serial.done)
