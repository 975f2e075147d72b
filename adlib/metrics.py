"""Metrics: pixel-level accuracy A and IoU at the IoU-maximising threshold (Schneider et al.)
and image-level AUROC / AP, all on top of scikit-learn's curves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score


def _flat(scores, masks) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    masks = np.asarray(masks).astype(bool).ravel()
    if scores.shape != masks.shape:
        raise ValueError(f"{scores.size} scores but {masks.size} mask pixels")
    if not masks.any():
        raise ValueError("the ground truth has no anomalous pixel: A and IoU are undefined")
    return scores, masks


def accuracy_a(prediction, mask) -> float:
    """Schneider et al. eq. 7: the share of ground-truth anomalous pixels that are detected.

    (δ(i, j) is 1 only where prediction and ground truth are both 1, and k counts the
    ground-truth pixels, so A is the pixel recall.)
    """
    prediction, mask = np.asarray(prediction, bool), np.asarray(mask, bool)
    return float((prediction & mask).sum() / max(mask.sum(), 1))


def iou(prediction, mask) -> float:
    """Schneider et al. eq. 8: |R_t ∩ y| / |R_t ∪ y|."""
    prediction, mask = np.asarray(prediction, bool), np.asarray(mask, bool)
    union = (prediction | mask).sum()
    return float((prediction & mask).sum() / union) if union else 1.0


@dataclass
class ThresholdResult:
    threshold: float
    iou: float
    accuracy: float
    thresholds: np.ndarray   # every candidate threshold, ascending
    ious: np.ndarray         # IoU at each candidate


def best_iou_threshold(residuals, masks) -> ThresholdResult:
    """The constant threshold t on the residual maps that maximises IoU over all images.

    Exact over every distinct residual value: IoU = TP / (TP + FP + FN) = P·R / (P + R − P·R)
    from scikit-learn's precision-recall curve.
    """
    scores, truth = _flat(residuals, masks)
    precision, recall, thresholds = precision_recall_curve(truth, scores)
    precision, recall = precision[:-1], recall[:-1]      # the last point has no threshold
    denominator = precision + recall - precision * recall
    ious = np.divide(precision * recall, denominator, out=np.zeros_like(denominator),
                     where=denominator > 0)
    best = int(np.argmax(ious))
    return ThresholdResult(float(thresholds[best]), float(ious[best]), float(recall[best]),
                           thresholds, ious)


def image_auroc_ap(scores_normal, scores_anomalous) -> tuple[float, float]:
    """Image-level AUROC and average precision, anomalous as the positive class."""
    normal, anomalous = np.asarray(scores_normal).ravel(), np.asarray(scores_anomalous).ravel()
    if normal.size == 0 or anomalous.size == 0:
        raise ValueError(f"AUROC needs both classes: {normal.size} normal, "
                         f"{anomalous.size} anomalous scores")
    labels = np.r_[np.zeros(normal.size), np.ones(anomalous.size)]
    scores = np.r_[normal, anomalous]
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity")
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


def pixel_auroc(maps, masks) -> float:
    """Pixel AUROC pooled over every pixel of every test image, normal images included: the
    MVTec AD / anomalib convention (maps (N, H, W), masks (N, H, W) bool)."""
    scores = np.asarray(maps, dtype=np.float64)
    truth = np.asarray(masks).astype(bool)
    if scores.shape != truth.shape:
        raise ValueError(f"maps {scores.shape} and masks {truth.shape} differ in shape")
    if truth.all() or not truth.any():
        raise ValueError("pixel AUROC needs defective and defect-free pixels among the test images")
    if not np.isfinite(scores).all():
        raise ValueError("anomaly maps contain NaN or infinity")
    return float(roc_auc_score(truth.ravel(), scores.ravel()))


def auroc_text(value, *, percent: bool = False, short: bool = False) -> str:
    """An AUROC as the book prints it: "–" when undefined; below chance (0.5, or 50 with
    ``percent``) labelled inverted, with the AUROC of the reversed score beside it (``short``:
    just ", inverted", for legends)."""
    if value is None or not np.isfinite(value):
        return "–"
    top, digits = (100.0, 1) if percent else (1.0, 3)
    text = f"{value:.{digits}f}"
    if value >= top / 2:
        return text
    if short:
        return f"{text}, inverted"
    return f"{text} (inverted; {top:g} − AUROC = {top - value:.{digits}f})"
