import json

from adlib import report
from adlib.data.registry import DATASETS


def test_data_page_lists_every_registered_dataset():
    page = report.data_page()
    assert page.startswith("# Data")
    for info in DATASETS:
        assert info.name in page


def test_results_page_shows_provenance_headline_and_verdict(tmp_path):
    (tmp_path / "demo.results.json").write_text(json.dumps({
        "headline": [{"what": "mean IoU", "published": 0.8, "ours": 0.75}],
        "verdict": ["- **claim**: holds."],
        "provenance": {"profile": "quick", "device": "cpu", "wall_seconds": 12.0,
                       "git_commit": "abcdef1234567", "finished_at": "2026-11-22T10:00:00Z"},
    }))
    page = report.results_page(tmp_path)
    assert "{doc}`demo <demo>`" in page and "| quick | cpu | 12 s | abcdef1234 | 2026-11-22 |" in page
    assert "| mean IoU | 0.800 | 0.750 |" in page and "- **claim**: holds." in page


def test_results_page_without_runs(tmp_path):
    assert "No chapter has been executed yet" in report.results_page(tmp_path)
