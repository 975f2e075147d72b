"""Metrics: pixel-level accuracy A and IoU at the IoU-maximising threshold (Schneider et al.),
and the MVTec AD / anomalib field metrics, all on numpy, SciPy and scikit-learn's curves.

Conventions (MVTec AD / anomalib), anomalous always the positive class:

* image AUROC / AP: one score per test image;
* F1-max: the best image-level F1 over every threshold (anomalib's ``F1Max``);
* pixel AUROC: pooled over every pixel of every test image, defect-free images included;
* AUPRO: the area under the per-region-overlap curve up to a global pixel FPR of 0.3, divided
  by 0.3 so that a perfect map scores 1; the regions are the 8-connected components of each
  ground-truth mask, each counting equally whatever its size, and the FPR runs over every
  defect-free pixel of every test image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
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


def auroc_rows(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUROC of every row of ``scores`` (R, N) against the matching row of ``labels`` (R, N), by
    the Mann-Whitney rank statistic (ties get average ranks, as in roc_auc_score): thousands of
    bootstrap resamples at once, where a roc_auc_score call each would take seconds."""
    from scipy.stats import rankdata

    labels = np.asarray(labels)
    ranks = rankdata(scores, axis=1)
    positives = labels.sum(axis=1)
    negatives = labels.shape[1] - positives
    rank_sum = (ranks * labels).sum(axis=1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


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


def f1_max(labels, scores) -> float:
    """Image-level F1-max (anomalib's ``F1Max``): the best F1 = 2PR / (P + R) over every
    threshold of scikit-learn's precision-recall curve, anomalous (label 1) as the positive
    class; F1 is 0 where P + R = 0."""
    truth, scores = np.asarray(labels).ravel(), np.asarray(scores, dtype=np.float64).ravel()
    if truth.shape != scores.shape:
        raise ValueError(f"{truth.size} labels but {scores.size} scores")
    if not np.isin(truth, (0, 1)).all():
        raise ValueError("labels must be 0 (normal) or 1 (anomalous)")
    truth = truth.astype(bool)
    if truth.all() or not truth.any():
        raise ValueError(f"F1-max needs both classes: {(~truth).sum()} normal, "
                         f"{truth.sum()} anomalous labels")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity")
    precision, recall, _ = precision_recall_curve(truth, scores)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return float(f1.max())


def image_metrics(scores_normal, scores_anomalous) -> dict:
    """Image AUROC, AP and F1-max of one score per test image (anomalous positive)."""
    auroc, ap = image_auroc_ap(scores_normal, scores_anomalous)
    normal, anomalous = np.asarray(scores_normal).ravel(), np.asarray(scores_anomalous).ravel()
    labels = np.r_[np.zeros(normal.size, int), np.ones(anomalous.size, int)]
    return {"image_auroc": auroc, "image_ap": ap,
            "f1_max": f1_max(labels, np.r_[normal, anomalous])}


# 8-connectivity inside each image, none across images of the (N, H, W) stack.
_EIGHT_CONNECTED = np.zeros((3, 3, 3), bool)
_EIGHT_CONNECTED[1] = True


def aupro(maps, masks, fpr_limit: float = 0.3) -> float:
    """MVTec AD AUPRO: area under the per-region overlap (PRO) against the global pixel FPR,
    from FPR 0 to ``fpr_limit`` (trapezoids, the curve interpolated at ``fpr_limit``), divided
    by ``fpr_limit``. maps and masks (N, H, W) (or (H, W) for one image).

    The regions are the 8-connected components of every image's mask; PRO(t) is the mean over
    all regions of all images of |region ∩ {map ≥ t}| / |region|; FPR(t) runs over every
    defect-free pixel of every image, defect-free images included. Exact: every distinct map
    value is a threshold.
    """
    # Hand-written rather than anomalib's / torchmetrics' AUPRO: exact in float64 over every
    # distinct value, vectorised (one sort, two cumulative sums), and no torch/kornia needed.
    scores = np.asarray(maps, dtype=np.float64)
    truth = np.asarray(masks).astype(bool)
    if scores.shape != truth.shape:
        raise ValueError(f"maps {scores.shape} and masks {truth.shape} differ in shape")
    if scores.ndim < 2:
        raise ValueError(f"maps must be (N, H, W) or (H, W), not {scores.shape}")
    if not 0 < fpr_limit <= 1:
        raise ValueError(f"fpr_limit must lie in (0, 1], not {fpr_limit}")
    if not truth.any():
        raise ValueError("the masks have no defective pixel: AUPRO is undefined")
    if truth.all():
        raise ValueError("the masks have no defect-free pixel: the FPR of AUPRO is undefined")
    if not np.isfinite(scores).all():
        raise ValueError("anomaly maps contain NaN or infinity")
    scores = scores.reshape((-1,) + scores.shape[-2:])
    regions, n_regions = ndimage.label(truth.reshape(scores.shape), structure=_EIGHT_CONNECTED)
    regions, scores = regions.ravel(), scores.ravel()

    # The mean of per-region overlaps is linear in the pixels: a pixel of a region of size s
    # adds 1 / (s · n_regions) to PRO once the threshold reaches it; a defect-free pixel adds
    # 1 / n_background to the FPR.
    weight = 1.0 / (np.bincount(regions) * float(n_regions))
    weight[0] = 0.0
    order = np.argsort(scores)[::-1]                      # descending; ties resolved below
    sorted_scores = scores[order]
    sorted_regions = regions[order]
    background = sorted_regions == 0
    fpr = np.cumsum(background) / background.sum()        # integer counts: exact
    pro = np.cumsum(weight[sorted_regions])
    # a threshold admits a whole run of tied scores: keep only the last index of each run
    last = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    fpr, pro = np.r_[0.0, fpr[last]], np.r_[0.0, pro[last]]

    inside = int(np.searchsorted(fpr, fpr_limit, side="right"))  # points with FPR ≤ limit
    x, y = fpr[:inside], pro[:inside]
    if x[-1] < fpr_limit:                                 # interpolate at exactly fpr_limit
        x0, x1, y0, y1 = fpr[inside - 1], fpr[inside], pro[inside - 1], pro[inside]
        x = np.r_[x, fpr_limit]
        y = np.r_[y, y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)]
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))
    return area / fpr_limit


def pixel_metrics(maps, masks) -> dict:
    """Pixel AUROC (pooled over every test pixel) and AUPRO to FPR 0.3, the MVTec AD pair."""
    return {"pixel_auroc": pixel_auroc(maps, masks), "aupro": aupro(maps, masks)}
