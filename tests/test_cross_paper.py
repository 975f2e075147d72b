"""The cross-paper chapter's verdict, fed constructed tables: every branch of its wording."""

import numpy as np
import pandas as pd
import pytest

from adlib.papers import cross_paper as X

DATASETS = ["brick", "gravel", "objects"]


def summary(rows: dict[str, list[float]], std: float = 0.01) -> X.Summary:
    mean = pd.DataFrame(rows, index=DATASETS).T
    return X.Summary(mean, mean * 0 + std, mean.map("{:.3f}".format))


DETECTOR = {"CAE (Schneider)": "schneider_cae", "VAE (Soukup)": "soukup_vae",
            "Deep-feature k-NN (baseline)": "deep_feature_knn", "PCA residual (baseline)": "pca"}


def results_of(auroc: X.Summary, unhealthy: dict | None = None) -> pd.DataFrame:
    """Records behind ``auroc`` (one seed), every model healthy unless named in ``unhealthy``
    {(method, dataset): status}."""
    unhealthy = unhealthy or {}
    return pd.DataFrame([{"dataset": d, "method": m, "detector": DETECTOR[m], "seed": 0,
                          "image_auroc": auroc.mean.loc[m, d],
                          "health": unhealthy.get((m, d), "not trained" if "baseline" in m else "healthy")}
                         for m in auroc.mean.index for d in auroc.mean.columns])


def cost_of(auroc: X.Summary) -> pd.DataFrame:
    seconds = {m: 1.0 + i for i, m in enumerate(auroc.mean.index)}
    return pd.DataFrame({"fit_seconds": seconds, "score_ms_per_image": 1.0})


def test_baseline_above_every_autoencoder_and_pca_floor_not_cleared():
    auroc = summary({"CAE (Schneider)": [0.55, 0.5, 0.58], "VAE (Soukup)": [0.52, 0.45, 0.5],
                     "Deep-feature k-NN (baseline)": [0.9, 0.8, 0.95], "PCA residual (baseline)": [0.7, 0.6, 0.7]})
    lines = X.verdict(auroc, cost_of(auroc), n_seeds=3, device="cpu", results=results_of(auroc))
    text = "\n".join(lines)
    assert "**Model health**: 6 of 6 trained (model, dataset) pairs are healthy on every seed." in text
    assert "Inconclusive" not in text
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
    text = "\n".join(X.verdict(auroc, cost_of(auroc), n_seeds=3, device="cpu", results=results_of(auroc)))
    assert "**Best overall**: CAE (Schneider)" in text
    assert "above PCA residual (baseline)" in text and "beats it on 3 of 3" in text
    assert "above the linear PCA residual (0.667)" in text
    assert "nowhere in this run" in text
    assert "within the seed noise" in text


def test_one_seed_and_only_baselines():
    auroc = summary({"CAE (Schneider)": [0.9, 0.8, 0.85], "PCA residual (baseline)": [0.7, 0.6, 0.7]})
    assert "- One seed only: seed noise not measured." in X.verdict(auroc, cost_of(auroc), 1, "cpu",
                                                                    results_of(auroc))
    only = summary({"PCA residual (baseline)": [0.7, 0.6, 0.7]})
    assert len(X.verdict(only, cost_of(only), 3, "cpu", results_of(only))) == 2     # health + best overall


def test_claims_on_unhealthy_models_are_inconclusive():
    auroc = summary({"CAE (Schneider)": [0.9, 0.8, 0.55], "VAE (Soukup)": [0.52, 0.45, 0.5],
                     "PCA residual (baseline)": [0.7, 0.6, 0.7]})
    results = results_of(auroc, {("CAE (Schneider)", "objects"): "collapsed",
                                 ("VAE (Soukup)", "brick"): "under-trained"})
    lines = X.verdict(auroc, cost_of(auroc), 3, "cpu", results)
    text = "\n".join(lines)
    assert "4 of 6 trained (model, dataset) pairs are healthy" in text
    assert "not healthy: CAE (Schneider) collapsed on objects; VAE (Soukup) under-trained on brick." in text
    best = next(line for line in lines if "**Best overall**" in line)
    assert best.endswith("**Inconclusive** (CAE (Schneider) collapsed).")
    assert "objects (0.55, inconclusive: a model on it is not healthy)" in text
    assert "gravel (0.80" not in text


def test_inverted_aurocs_and_single_seeds_are_labelled():
    results = pd.DataFrame([{"dataset": "brick", "method": "CAE (Schneider)", "seed": 0, "image_auroc": 0.3}])
    text = X.summarise(results, "image_auroc").text.loc["CAE (Schneider)", "brick"]
    assert text == "0.300 (inverted; 1 − AUROC = 0.700) ± –"


def test_health_matrix_takes_the_worst_seed_and_skips_extras():
    results = pd.DataFrame([
        {"dataset": "brick", "method": "VAE (Soukup)", "detector": "soukup_vae", "seed": 0, "health": "healthy"},
        {"dataset": "brick", "method": "VAE (Soukup)", "detector": "soukup_vae", "seed": 1, "health": "collapsed"},
        {"dataset": "brick", "method": "VAE latent (Soukup)", "detector": "soukup_vae", "seed": 0,
         "health": "healthy"}])
    matrix = X.health_matrix(results)
    assert matrix.to_dict() == {"brick": {"VAE (Soukup)": "collapsed"}}


def test_summaries_and_record_are_json_ready():
    results = pd.DataFrame([{"dataset": d, "method": m, "seed": k, "image_auroc": 0.5 + 0.1 * k,
                             "image_ap": 0.5, "pixel_auroc": np.nan, "fit_seconds": 1.0, "score_ms_per_image": 2.0}
                            for d in DATASETS for m in ("PCA residual (baseline)",) for k in (0, 1)])
    auroc = X.summarise(results, "image_auroc")
    assert auroc.mean.loc["PCA residual (baseline)", "brick"] == pytest.approx(0.55)
    assert auroc.text.loc["PCA residual (baseline)", "brick"] == "0.550 ± 0.071"
    record = X.results_record(results, auroc, X.cost_table(results, auroc), [0, 1], ["pca"], ["- a line"])
    assert record["records"][0]["pixel_auroc"] is None and record["methods"][0]["detector"] == "pca"


def _exam_inputs(bad_cell=("b", 1, "CAE (Schneider)")):
    rng = np.random.default_rng(0)
    labels = {d: np.repeat([0, 1], 30) for d in ("a", "b")}
    rows, scores = [], {}
    for d in ("a", "b"):
        for s in (0, 1):
            for method, detector, separation in (("PatchCore", "patchcore", 3.0), ("PCA residual (baseline)", "pca", 0.3),
                                                 ("CAE (Schneider)", "schneider_cae", 3.0)):
                score = rng.normal(size=60) + separation * labels[d]
                scores[d, s, method] = score
                status = "collapsed" if (d, s, method) == bad_cell else ("healthy" if detector == "schneider_cae"
                                                                         else "not trained")
                auc = float(np.mean(score[30:, None] > score[None, :30]))
                rows.append({"dataset": d, "seed": s, "method": method, "detector": detector, "image_auroc": auc,
                             "health": status})
    return pd.DataFrame(rows), X.Scores(scores, labels)


def test_the_exam_ranks_methods_on_the_same_cells_with_paired_intervals():
    results, scores = _exam_inputs()
    table = X.exam(results, scores, count=300).set_index("method")
    assert table.loc["CAE (Schneider)", "status"] == "not comparable (1 of 4 cells not usable)"
    assert pd.isna(table.loc["CAE (Schneider)", "mean image AUROC"])                  # not averaged over 3 cells
    best = table.loc["PatchCore"]
    low, high = best["interval"]
    assert low <= best["mean image AUROC"] <= high and pd.isna(best["differs from best"])
    pca = table.loc["PCA residual (baseline)"]
    assert pca["differs from best"] == "yes" and pca["Δ vs best [95 %]"][1] < 0
    assert table.index[0] == "PatchCore" and table.loc["PatchCore", "family"] == "memory bank / k-NN"
    text = X.exam_text(X.exam(results, scores, count=50))
    assert text.loc[text.method == "CAE (Schneider)", "mean image AUROC"].item() == "–"


def test_two_equal_methods_do_not_differ_in_the_exam():
    results, scores = _exam_inputs(bad_cell=None)
    same = {key: value for key, value in scores.scores.items() if key[2] == "PatchCore"}
    scores.scores.update({(d, s, "CAE (Schneider)"): v.copy() for (d, s, _), v in same.items()})
    results.loc[results.method == "CAE (Schneider)", "image_auroc"] = results.loc[
        results.method == "PatchCore", "image_auroc"].to_numpy()
    table = X.exam(results, scores, count=300).set_index("method")
    others = table.drop(index=table.index[0])
    assert "no (within noise)" in set(others["differs from best"])
