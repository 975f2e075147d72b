import numpy as np
import pytest

from adlib import metrics


def brute_force_best_iou(residual, mask):
    best = (-1.0, None)
    for t in np.unique(residual):
        pred = residual >= t
        best = max(best, (metrics.iou(pred, mask), t), key=lambda x: x[0])
    return best


def test_best_iou_matches_brute_force():
    rng = np.random.default_rng(0)
    mask = rng.random((3, 12, 12)) < 0.2
    residual = rng.random((3, 12, 12)) + mask * rng.random((3, 12, 12))
    result = metrics.best_iou_threshold(residual, mask)
    expected_iou, _ = brute_force_best_iou(residual, mask)
    assert result.iou == pytest.approx(expected_iou)
    prediction = residual >= result.threshold
    assert metrics.iou(prediction, mask) == pytest.approx(result.iou)
    assert metrics.accuracy_a(prediction, mask) == pytest.approx(result.accuracy)


def test_perfect_separation_gives_iou_one():
    mask = np.zeros((2, 8, 8), bool)
    mask[:, 2:4, 2:5] = True
    result = metrics.best_iou_threshold(mask * 1.0 + 0.01, mask)
    assert result.iou == 1.0 and result.accuracy == 1.0


def test_accuracy_a_is_recall():
    mask = np.array([1, 1, 0, 0], bool)
    pred = np.array([1, 0, 1, 1], bool)
    assert metrics.accuracy_a(pred, mask) == 0.5
    assert metrics.iou(pred, mask) == 0.25


def test_errors_on_bad_input():
    with pytest.raises(ValueError, match="no anomalous pixel"):
        metrics.best_iou_threshold(np.ones((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="scores"):
        metrics.best_iou_threshold(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="both classes"):
        metrics.image_auroc_ap([], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        metrics.image_auroc_ap([0.1, np.nan], [1.0])


def test_auroc_ap():
    auc, ap = metrics.image_auroc_ap([0.1, 0.2], [0.3, 0.4])
    assert auc == 1.0 and ap == 1.0


def test_pixel_auroc_pools_every_test_pixel():
    masks = np.zeros((2, 2, 2), bool)
    masks[0, 0, 0] = True
    maps = np.array([[[0.9, 0.1], [0.2, 0.3]], [[0.95, 0.0], [0.0, 0.0]]])
    # the normal image's bright pixel outranks the defect: 7 negatives, 1 ranks above it
    assert metrics.pixel_auroc(maps, masks) == pytest.approx(6 / 7)
    with pytest.raises(ValueError, match="defective and defect-free"):
        metrics.pixel_auroc(maps, np.zeros_like(masks))


def test_auroc_text_labels_scores_below_chance_as_inverted():
    assert metrics.auroc_text(0.28) == "0.280 (inverted; 1 − AUROC = 0.720)"
    assert metrics.auroc_text(0.5) == "0.500" and metrics.auroc_text(0.9) == "0.900"
    assert metrics.auroc_text(41.4, percent=True) == "41.4 (inverted; 100 − AUROC = 58.6)"
    assert metrics.auroc_text(0.3, short=True) == "0.300, inverted"
    assert metrics.auroc_text(None) == "–" and metrics.auroc_text(float("nan")) == "–"
