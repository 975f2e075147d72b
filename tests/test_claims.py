"""The verdict table's rows: statuses computed by each paper module with the health gate."""

import pandas as pd
import pytest

from adlib import claims as C
from adlib import health
from adlib.papers import fadaeinejad, saeedi, schneider, soukup, zhu

COLLAPSED = health.assess({"steps": 100, "mse": 1.0, "mean_image_mse": 1.0, "error_ratio": 1.0, "spread_ratio": 0.0})


def test_a_claim_row_and_its_delta():
    row = C.claim("x beats y", "partly", ours=2.0, published=4.7, unit="AUROC points")
    assert row["delta"] == pytest.approx(-2.7)
    assert C.claim("x", "holds", ours="3 of 4")["delta"] is None
    with pytest.raises(ValueError, match="not one of"):
        C.claim("x", "mostly")
    assert [C.ladder(2, 2), C.ladder(1, 2), C.ladder(0, 2)] == ["holds", "partly", "does not hold"]


def _zhu_summary(two, cae):
    return {"mnist_subset": {"Two-stage": {"mean": two, "classes": list(range(10))},
                             "CAE": {"mean": cae, "classes": list(range(10))}}}


@pytest.mark.parametrize("two, cae, status", [(97.0, 92.6, "holds"), (94.0, 92.6, "partly"),
                                              (92.0, 92.6, "does not hold")])
def test_zhu_margin_over_the_cae(two, cae, status):
    margin, ocgan = zhu.claims(_zhu_summary(two, cae))
    assert margin["status"] == status and margin["ours"] == pytest.approx(two - cae)
    assert margin["published"] == pytest.approx(4.7)
    assert ocgan["status"] == ("holds" if two >= 96.5 else "does not hold")


def test_zhu_claims_are_inconclusive_on_a_model_that_did_not_learn_and_untested_without_mnist():
    healths = {"mnist_subset": {"Two-stage": {"Two-stage (normal 1, seed 0)": COLLAPSED}}}
    assert {c["status"] for c in zhu.claims(_zhu_summary(99.0, 90.0), healths)} == {"inconclusive"}
    assert {c["status"] for c in zhu.claims({"FashionMNIST": {}})} == {"untested"}


def test_saeedi_claim_follows_the_verdict():
    metrics = {"bottle": {"Proposed": {"auc": 0.96, "ap": 0.98}, "AE (L2)": {"auc": 0.85, "ap": 0.9},
                          "Deep Feature": {"auc": 0.99, "ap": 0.99}, "NN": {"auc": 0.9, "ap": 0.9},
                          "Variation": {"auc": 0.9, "ap": 0.9}}}
    (row,) = saeedi.claims(metrics)
    assert row["status"] == "partly" and row["ours"] == pytest.approx(96.0)
    (row,) = saeedi.claims(metrics, {"bottle": COLLAPSED})
    assert row["status"] == "inconclusive" and "CPCAE bottle" in row["note"]


def test_schneider_claims():
    table = pd.DataFrame([{"dataset": d, "model": m, "IoU": iou} for d, ious in
                          {"chess": (0.7, 0.72, 0.71), "noise": (0.5, 0.6, 0.55)}.items()
                          for m, iou in zip(("CAE", "VAE", "AAE"), ious)])
    textures = {"brick": {"contrast_kept": 0.8, "patch_auroc": 0.9}, "gravel": {"contrast_kept": 0.2, "patch_auroc": 0.7}}
    nearly, stochastic = schneider.claims(table, textures)
    assert nearly["status"] == "partly" and nearly["ours"] == pytest.approx(0.1)    # chess within 0.05, noise not
    assert stochastic["status"] == "holds"
    nearly, stochastic = schneider.claims(table, {}, {("noise", "CAE"): COLLAPSED})
    assert nearly["status"] == "holds" and stochastic["status"] == "untested"
    assert nearly["note"] == "judged on chess only; noise left out, inconclusive (CAE on noise collapsed)"


def test_soukup_claim_from_the_tally():
    counts = {"patterns": 2, "reconstruction_clearly_better": 2, "latent_clearly_better": 0}
    assert soukup.claims(counts)[0]["status"] == "holds"
    assert soukup.claims({**counts, "reconstruction_clearly_better": 0, "latent_clearly_better": 1})[0]["status"] \
        == "does not hold"
    assert soukup.claims({**counts, "patterns": 0})[0]["status"] == "inconclusive"


def test_fadaeinejad_claim_counts_the_defect_types_where_f1_falls_on_both_sides():
    taus = [0.05, 0.1, 0.3, 0.5, 0.9]
    sweep = {"taus": taus, "f1": {"crack": [0.1, 0.2, 0.8, 0.3, 0.0], "hole": [0.7, 0.7, 0.7, 0.7, 0.7]}}
    (row,) = fadaeinejad.claims(sweep)
    assert row["status"] == "partly" and row["ours"].startswith("F1 falls on both sides on 1 of 2")
    (row,) = fadaeinejad.claims(sweep, {500: COLLAPSED}, 500)
    assert row["status"] == "inconclusive"
