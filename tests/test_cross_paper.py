"""The cross-paper chapter's verdict, fed constructed tables: every branch of its wording."""

import numpy as np
import pandas as pd
import pytest

from adlib.papers import cross_paper as X

DATASETS = ["brick", "gravel", "objects"]


def summary(rows: dict[str, list[float]], std: float = 0.01) -> X.Summary:
    mean = pd.DataFrame(rows, index=DATASETS).T
    return X.Summary(mean, mean * 0 + std, mean.map("{:.3f}".format))


def cost_of(auroc: X.Summary) -> pd.DataFrame:
    seconds = {m: 1.0 + i for i, m in enumerate(auroc.mean.index)}
    return pd.DataFrame({"fit_seconds": seconds, "score_ms_per_image": 1.0})


def test_baseline_above_every_autoencoder_and_pca_floor_not_cleared():
    auroc = summary({"CAE (Schneider)": [0.55, 0.5, 0.58], "VAE (Soukup)": [0.52, 0.45, 0.5],
                     "Deep-feature k-NN (baseline)": [0.9, 0.8, 0.95], "PCA residual (baseline)": [0.7, 0.6, 0.7]})
    lines = X.verdict(auroc, cost_of(auroc), n_seeds=3, device="cpu")
    text = "\n".join(lines)
    assert "**Best overall**: Deep-feature k-NN (baseline)" in text
    assert "Best autoencoder**: CAE (Schneider)" in text and "best autoencoder on 3 of 3" in text
    assert "below Deep-feature k-NN (baseline)" in text and "beats it on 0 of 3" in text
    assert "no reconstruction-based autoencoder beats a linear model" in text
    assert "brick (0.55), gravel (0.50), objects (0.58)" in text
    assert "matters more than the seed" in text        # span 0.05 > 2 × 0.01
    assert "cheapest autoencoder to train is CAE (Schneider)" in text


def test_autoencoder_ahead_and_differences_within_seed_noise():
    auroc = summary({"CAE (Schneider)": [0.9, 0.8, 0.85], "VAE (Soukup)": [0.89, 0.8, 0.84],
                     "PCA residual (baseline)": [0.7, 0.6, 0.7]}, std=0.05)
    text = "\n".join(X.verdict(auroc, cost_of(auroc), n_seeds=3, device="cpu"))
    assert "**Best overall**: CAE (Schneider)" in text
    assert "above PCA residual (baseline)" in text and "beats it on 3 of 3" in text
    assert "above the linear PCA residual (0.667)" in text
    assert "nowhere in this run" in text
    assert "within the seed noise" in text


def test_one_seed_and_only_baselines():
    auroc = summary({"CAE (Schneider)": [0.9, 0.8, 0.85], "PCA residual (baseline)": [0.7, 0.6, 0.7]})
    assert "- One seed only: seed noise not measured." in X.verdict(auroc, cost_of(auroc), 1, "cpu")
    only = summary({"PCA residual (baseline)": [0.7, 0.6, 0.7]})
    assert len(X.verdict(only, cost_of(only), 3, "cpu")) == 1


def test_summaries_and_record_are_json_ready():
    results = pd.DataFrame([{"dataset": d, "method": m, "seed": k, "image_auroc": 0.5 + 0.1 * k,
                             "image_ap": 0.5, "pixel_auroc": np.nan, "fit_seconds": 1.0, "score_ms_per_image": 2.0}
                            for d in DATASETS for m in ("PCA residual (baseline)",) for k in (0, 1)])
    auroc = X.summarise(results, "image_auroc")
    assert auroc.mean.loc["PCA residual (baseline)", "brick"] == pytest.approx(0.55)
    assert auroc.text.loc["PCA residual (baseline)", "brick"] == "0.550 ± 0.071"
    record = X.results_record(results, auroc, X.cost_table(results, auroc), [0, 1], ["pca"], ["- a line"])
    assert record["records"][0]["pixel_auroc"] is None and record["methods"][0]["detector"] == "pca"
