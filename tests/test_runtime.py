import json
import os

import pytest
import torch

from adlib import runtime


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.json"
    runtime.atomic_write_json(target, {"a": 1})
    runtime.atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert os.listdir(tmp_path) == ["out.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.json"
    runtime.atomic_write_json(target, {"good": True})
    with pytest.raises(ValueError):              # NaN is not valid JSON: refused, old file kept
        runtime.atomic_write_json(target, {"bad": float("nan")})
    assert json.loads(target.read_text()) == {"good": True}
    assert os.listdir(tmp_path) == ["out.json"]


def test_device_selection():
    assert runtime.select_device("cpu").type == "cpu"
    with pytest.raises(ValueError):
        runtime.select_device("tpu")
    if not torch.cuda.is_available():
        assert runtime.select_device("auto").type == "cpu"
        with pytest.raises(RuntimeError, match="no GPU"):
            runtime.select_device("cuda")


def test_run_writes_results_with_provenance(tmp_path):
    run = runtime.Run("demo", {"profile": "smoke", "seed": 3}, tmp_path)
    with run.step("work"):
        pass
    run.add_dataset("toy", size=4, checksum=runtime.array_checksum(torch.zeros(2).numpy()))
    run.results["value"] = 1.5
    saved = json.loads(run.save().read_text())
    assert saved["value"] == 1.5
    prov = saved["provenance"]
    for key in ("profile", "seed", "parameters", "adlib_version", "git_commit", "torch_version",
                "device", "step_seconds", "datasets", "wall_seconds"):
        assert key in prov
    assert prov["seed"] == 3 and "work" in prov["step_seconds"] and "toy" in prov["datasets"]


def test_checkpoint_round_trip(tmp_path):
    path = runtime.atomic_torch_save({"w": torch.ones(3)}, tmp_path / "ckpt.pt")
    assert torch.equal(torch.load(path)["w"], torch.ones(3))


def test_time_breakdown_counts_each_kind_once_and_sums_to_the_wall_time(tmp_path):
    import time

    import numpy as np

    from adlib import detectors

    run = runtime.Run("demo", {"profile": "smoke"}, tmp_path)
    with runtime.timed("figures and widgets"):
        with runtime.timed("scoring"):             # nested: counted once, for the outer kind
            time.sleep(0.05)
    with run.step("a baseline", kind="baselines"):
        time.sleep(0.02)
    images = np.random.default_rng(0).random((8, 1, 32, 32), dtype=np.float32)
    detectors.get("pca", channels=1, image_size=32, seed=0).fit(images)                 # time_kind: baselines
    detectors.get("fadaeinejad_cae", channels=1, image_size=32, seed=0, work_size=32).fit(
        images, iterations=2, batch_size=4, progress=False)                              # trained: training
    spent = run.provenance()["time_breakdown"]
    assert set(spent) == {*runtime.TIME_KINDS, "rest"}
    assert spent["figures and widgets"] >= 0.05 and spent["scoring"] == 0
    assert spent["baselines"] >= 0.02 and spent["training"] > 0
    wall = run.provenance()["wall_seconds"]
    assert abs(sum(spent.values()) - wall) < 0.05
    with pytest.raises(ValueError, match="unknown kind"):
        with runtime.timed("lunch"):
            pass
    assert runtime.Run("next", {}, tmp_path).time_breakdown()["training"] == 0     # each run starts at zero
    assert run.provenance()["kernel_start_seconds"] == 0                         # not under adlib.execute


def test_run_under_execute_records_the_kernel_start(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("ADLIB_EXECUTE_STARTED", repr(time.time() - 3.0))
    assert 3.0 <= runtime.Run("demo", {}, tmp_path).kernel_start_seconds < 10


def test_the_determinism_switch_sets_torch_and_is_recorded(tmp_path, monkeypatch):
    import torch

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        on = runtime.set_deterministic(True)
        assert on["deterministic_algorithms"] and on["warn_only"] and on["cudnn_deterministic"]
        assert not on["cudnn_benchmark"] and on["cublas_workspace_config"] == runtime.CUBLAS_WORKSPACE
        run = runtime.Run("demo", {"profile": "paper", "deterministic": True}, tmp_path)
        assert run.provenance()["determinism"] == on and "cuda_version" in run.provenance()
    finally:
        off = runtime.set_deterministic(False)
    assert not off["deterministic_algorithms"] and not torch.backends.cudnn.deterministic
