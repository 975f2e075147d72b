import json

import pytest

from adlib import kept_runs


def test_kept_paper_runs_are_shown_with_provenance_and_a_stale_mark(tmp_path, monkeypatch):
    kept = tmp_path / "results" / "paper"
    kept.mkdir(parents=True)
    (kept / "demo.results.json").write_text(json.dumps({
        "headline": [{"what": "mean AUROC", "published": 0.9, "ours": 0.8}],
        "provenance": {"device_name": "NVIDIA H100", "torch_version": "2.11", "cuda_version": "12.8",
                       "wall_seconds": 300.0, "git_commit": "abc+dirty", "finished_at": "2026-11-25T00:00:00Z"}}))
    section = "\n".join(kept_runs.kept_section(kept))
    assert "| {doc}`demo` | NVIDIA H100 | torch 2.11, CUDA 12.8 | 300 s |" in section
    assert "run from uncommitted changes" in section
    assert "| {doc}`demo` | mean AUROC | 0.900 | 0.800 |" in section
    # a commit this checkout does not know is said so, not hidden
    (kept / "demo.results.json").write_text(json.dumps({"provenance": {"git_commit": "0" * 40}}))
    assert "not found in this checkout" in "\n".join(kept_runs.kept_section(kept))
    assert "No paper-profile run is kept" in "\n".join(kept_runs.kept_section(tmp_path / "none"))


def test_a_chapter_shows_its_kept_paper_run_beside_this_build(tmp_path):
    headline = [{"what": "mean AUROC", "published": 0.9, "ours": 0.7}, {"what": "F1", "published": 0.5, "ours": 0.4}]
    assert "No `paper`-profile run of this chapter is kept" in kept_runs.kept_beside("demo", headline, "quick", tmp_path)
    assert "is a `paper`-profile run" in kept_runs.kept_beside("demo", headline, "paper", tmp_path)
    (tmp_path / "demo.results.json").write_text(json.dumps({
        "headline": [{"what": "mean AUROC", "published": 0.9, "ours": 0.85}, {"what": "extra", "ours": 1.0}],
        "health": [{"status": "healthy"}, {"status": "collapsed"}, {"status": "not trained"}],
        "provenance": {"device_name": "NVIDIA H100", "torch_version": "2.11", "cuda_version": "12.8",
                       "wall_seconds": 300.0, "git_commit": "abc+dirty", "finished_at": "2026-11-25T00:00:00Z"}}))
    text = kept_runs.kept_beside("demo", headline, "quick", tmp_path)
    assert "ran on NVIDIA H100 (torch 2.11, CUDA 12.8) at commit `abc+dirty` on 2026-11-25, in 300 s" in text
    assert "with 1 of 2 healthy models" in text and "run from uncommitted changes: its numbers describe older code" in text
    assert "| | published | ours (quick) | ours (paper profile) |" in text.replace("|  |", "| |")
    assert "| mean AUROC | 0.900 | 0.700 | 0.850 |" in text
    assert "| F1 | 0.500 | 0.400 | – |" in text and "| extra | – | – | 1.000 |" in text


def test_a_kept_run_is_stale_once_adlib_changed_after_its_commit():
    import subprocess
    from pathlib import Path

    root = Path(kept_runs.__file__).resolve().parent.parent
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    first = subprocess.run(["git", "rev-list", "--max-parents=0", "HEAD"], cwd=root, capture_output=True,
                           text=True).stdout.split()[0]
    if not head:
        pytest.skip("not a git checkout")
    assert kept_runs.stale(head, "saeedi_cpcae_knn", root) == ""
    assert kept_runs.stale(first, "saeedi_cpcae_knn", root).startswith("**stale**")
