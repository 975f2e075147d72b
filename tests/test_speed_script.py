"""bench/speed.py runs, writes speed.json and flags a chapter over its wall-time target (no timing is asserted)."""

import json
import subprocess
import sys

from conftest import ROOT


def test_speed_script_runs_and_flags_slow_chapters(tmp_path):
    breakdowns = {"fast_chapter": {"training": 6.0, "scoring": 1.0, "baselines": 0.0, "figures and widgets": 2.0,
                                   "rest": 1.0},
                  "slow_chapter": {"training": 1000.0, "scoring": 500.0, "baselines": 0.0,
                                   "figures and widgets": 8000.0, "rest": 500.0}}
    for chapter, wall in (("fast_chapter", 10.0), ("slow_chapter", 10_000.0)):
        (tmp_path / f"{chapter}.results.json").write_text(json.dumps(
            {"provenance": {"profile": "quick", "device": "cpu", "cpu_threads": 2, "wall_seconds": wall,
                            "time_breakdown": breakdowns[chapter]}}))
    written = tmp_path / "out" / "speed.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "speed.py"), "--tiny", "--generated", str(tmp_path),
                           "--json", str(written)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for title in ("Training step: fp32 vs bf16", "training step and scoring time", "k-NN scoring", "encoder-only vs full", "Chapter wall times"):
        assert title in out
    assert "schneider_cae" in out and "saeedi_cpcae" in out
    assert "OVER target: slow_chapter" in out and "fast_chapter" in out
    assert "training %" in out and "figures and widgets > training" in out
    assert "More time outside training than in it: slow_chapter (figures and widgets)" in out

    speed = json.loads(written.read_text())
    assert {row["detector"] for row in speed["train"]} >= {"schneider_cae", "zhu_rotnet", "deep_svdd"}
    for row in speed["train"]:
        assert {"detector", "device", "config", "mode", "fp32_ms", "chosen_ms", "speedup"} <= set(row)
        assert row["mode"] in ("fp32", "bf16") and row["device"] == "cpu"
        assert row["chosen_ms"] == (row["fp32_ms"] if row["mode"] == "fp32" else row["bf16_ms"])
    assert any(row["detector"] == "saeedi_cpcae" for row in speed["score"])
    assert {row["detector"] for row in speed["features"]} == {"patchcore", "padim", "feature_ae",
                                                              "reverse_distillation"}
    chapters = {row["chapter"]: row for row in speed["chapters"]}
    assert chapters["fast_chapter"]["wall_seconds"] == 10.0 and chapters["fast_chapter"]["training_seconds"] == 6.0
    assert chapters["fast_chapter"]["training_largest"] and not chapters["slow_chapter"]["training_largest"]
    assert chapters["slow_chapter"]["largest_other"] == "figures and widgets"


def test_speed_times_every_trained_detector_and_every_benchmark_method():
    """The speed tables derive from the registry: a new trained detector without a timing config fails here."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("speed", ROOT / "bench" / "speed.py")
    speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(speed)
    assert speed.untimed_detectors() == []
    assert set(speed.TRAIN_CONFIGS) <= set(speed.detectors.REGISTRY)
