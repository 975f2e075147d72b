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


# --- MVTec AD / anomalib field metrics -------------------------------------------------------

def test_f1_max_by_hand():
    # labels [0, 0, 1, 1], scores [0.1, 0.4, 0.35, 0.8]; anomalous = score ≥ t:
    #   t = 0.8 : TP 1 FP 0 → P 1,   R 1/2 → F1 2/3
    #   t = 0.4 : TP 1 FP 1 → P 1/2, R 1/2 → F1 1/2
    #   t = 0.35: TP 2 FP 1 → P 2/3, R 1   → F1 (4/3)/(5/3) = 4/5   ← best
    #   t = 0.1 : TP 2 FP 2 → P 1/2, R 1   → F1 2/3
    assert metrics.f1_max([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.8)
    assert metrics.f1_max([0, 1], [0.2, 0.9]) == 1.0
    # every anomalous image scored below every normal one: best is "all anomalous", P 1/2 R 1
    assert metrics.f1_max([0, 0, 1, 1], [0.9, 0.8, 0.1, 0.2]) == pytest.approx(2 / 3)


def test_image_metrics():
    result = metrics.image_metrics([0.1, 0.4], [0.35, 0.8])
    assert set(result) == {"image_auroc", "image_ap", "f1_max"}
    assert all(type(v) is float for v in result.values())
    # AUROC: 3 of the 4 (normal, anomalous) pairs ordered right; F1-max as above
    assert result["image_auroc"] == pytest.approx(0.75)
    assert result["f1_max"] == pytest.approx(0.8)
    auc, ap = metrics.image_auroc_ap([0.1, 0.4], [0.35, 0.8])
    assert (result["image_auroc"], result["image_ap"]) == (auc, ap)


def test_f1_max_errors():
    with pytest.raises(ValueError, match="both classes"):
        metrics.f1_max([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        metrics.f1_max([0, 1], [0.1, np.inf])
    with pytest.raises(ValueError, match="labels"):
        metrics.f1_max([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="0 .normal. or 1"):
        metrics.f1_max([0, 2], [0.1, 0.2])


def test_aupro_perfect_map_is_one():
    masks = np.zeros((3, 8, 8), bool)
    masks[0, 1:3, 1:4] = True
    masks[0, 6:8, 6:8] = True
    masks[1, 4, 4] = True            # image 2 is defect-free
    rng = np.random.default_rng(1)
    maps = np.where(masks, 1 + rng.random(masks.shape), rng.random(masks.shape))
    assert metrics.aupro(maps, masks) == pytest.approx(1.0, abs=1e-12)
    assert metrics.aupro(masks * 1.0, masks) == pytest.approx(1.0, abs=1e-12)   # ties too
    # and the worst map (every defect below every background pixel) stays at 0 up to FPR 1
    assert metrics.aupro(-maps, masks) == 0.0


def _two_regions():
    """A: a 2×3 block (6 pixels); B: one pixel, not 8-connected to A; 4×4 image, 9 background.
    The map ranks A above every background pixel and B below every one."""
    masks = np.zeros((1, 4, 4), bool)
    masks[0, 0:2, 0:3] = True
    masks[0, 3, 3] = True
    maps = np.full((1, 4, 4), 0.5)
    maps[0, 0:2, 0:3], maps[0, 3, 3] = 1.0, 0.0
    return maps, masks


def test_aupro_averages_regions_not_pixels():
    # the curve is (0, 0) → (0, 1/2) [A, PRO = (1 + 0)/2] → (1, 1/2) → (1, 1), so
    # AUPRO = 1/2 for any limit < 1 — not the pixel recall 6/7.
    maps, masks = _two_regions()
    assert metrics.aupro(maps, masks) == pytest.approx(0.5)
    # and the other way round: B detected first, A last → still 1/2 (pixel recall 1/7)
    maps[0, 0:2, 0:3], maps[0, 3, 3] = 0.0, 1.0
    assert metrics.aupro(maps, masks) == pytest.approx(0.5)
    # to FPR 1: area 1/2 · 1 (the vertical jump at FPR 1 adds nothing) → 1/2
    assert metrics.aupro(maps, masks, fpr_limit=1.0) == pytest.approx(0.5)


def test_aupro_regions_are_eight_connected():
    # diagonal pixels (0,0) and (1,1) form ONE region A (8-connectivity); B = pixel (3,3).
    masks = np.zeros((1, 4, 4), bool)
    masks[0, 0, 0] = masks[0, 1, 1] = masks[0, 3, 3] = True
    maps = np.full((1, 4, 4), 0.5)
    maps[0, 0, 0] = maps[0, 3, 3] = 1.0     # half of A and all of B above the background
    maps[0, 1, 1] = 0.0                     # the rest of A below it
    # PRO on the plateau = (1/2 + 1)/2 = 3/4 (with 4-connectivity it would be (1+0+1)/3 = 2/3)
    assert metrics.aupro(maps, masks) == pytest.approx(0.75)


def test_aupro_fpr_counts_defect_free_images_and_interpolates_at_the_limit():
    # One image, 3×4 = 12 pixels: the region is (0,0) and (0,1) (2 pixels), 10 background
    # pixels scored 0.9, 0.8, …, 0.0; (0,0) scores 1.0, (0,1) ties with the background 0.6.
    masks = np.zeros((1, 3, 4), bool)
    masks[0, 0, :2] = True
    maps = np.zeros((1, 3, 4))
    maps[0][~masks[0]] = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    maps[0, 0, 0], maps[0, 0, 1] = 1.0, 0.6
    # curve: (0,0) → (0, .5) → (.1, .5) → (.2, .5) → (.3, .5) → [t = 0.6, a tie of one
    # background and one defect pixel: a diagonal] (.4, 1) → … → (1, 1).
    #   limit 0.3 : area .5·.3 = .15                                 → AUPRO 1/2
    #   limit 0.35: .15 + .05·(.5 + .75)/2 = .18125 (PRO(.35) = .75)  → .18125/.35 = 29/56
    #   limit 1   : .15 + .1·(.5 + 1)/2 + .6·1 = .825                  → .825
    assert metrics.aupro(maps, masks) == pytest.approx(0.5)
    assert metrics.aupro(maps, masks, fpr_limit=0.35) == pytest.approx(29 / 56)
    assert metrics.aupro(maps, masks, fpr_limit=1.0) == pytest.approx(0.825)

    # a defect-free image pools into the FPR: image 0 (2×2) has one defect pixel scored 1 and
    # 3 background pixels at 0; image 1 (2×2, defect-free) has one pixel at 2, the rest at 0.
    # 7 background pixels: (0,0) → (1/7, 0) → (1/7, 1) → (1, 1);
    # AUPRO = (0.3 − 1/7)·1 / 0.3 = 1 − 10/21 = 11/21.
    masks = np.zeros((2, 2, 2), bool)
    masks[0, 0, 0] = True
    maps = np.zeros((2, 2, 2))
    maps[0, 0, 0], maps[1, 1, 1] = 1.0, 2.0
    assert metrics.aupro(maps, masks) == pytest.approx(11 / 21)


def test_aupro_errors():
    masks = np.zeros((2, 4, 4), bool)
    masks[0, 1, 1] = True
    maps = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.aupro(maps, masks[:1])
    with pytest.raises(ValueError, match="no defective pixel"):
        metrics.aupro(maps, np.zeros_like(masks))
    with pytest.raises(ValueError, match="no defect-free pixel"):
        metrics.aupro(maps, np.ones_like(masks))
    with pytest.raises(ValueError, match="NaN"):
        metrics.aupro(np.where(masks, np.nan, 0.0), masks)
    with pytest.raises(ValueError, match="fpr_limit"):
        metrics.aupro(maps, masks, fpr_limit=0.0)


def test_pixel_metrics():
    maps, masks = _two_regions()
    result = metrics.pixel_metrics(maps, masks)
    assert set(result) == {"pixel_auroc", "aupro"}
    # pixel AUROC: 6 defect pixels above all 9 background, 1 below: 54/63 = 6/7
    assert result["pixel_auroc"] == pytest.approx(6 / 7)
    assert result["aupro"] == pytest.approx(0.5)


def brute_force_aupro(maps, masks, fpr_limit):
    """Slow and obvious: threshold at every distinct value, label each image's regions."""
    from scipy import ndimage
    regions = []                                   # (image index, boolean region) pairs
    for i, mask in enumerate(masks):
        labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
        regions += [(i, labels == k) for k in range(1, n + 1)]
    background = ~masks
    points = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:
        detected = maps >= t
        fpr = (detected & background).sum() / background.sum()
        pro = np.mean([detected[i][region].mean() for i, region in regions])
        points.append((fpr, pro))
    area = 0.0
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        if x0 >= fpr_limit:
            break
        if x1 <= fpr_limit:
            area += (x1 - x0) * (y0 + y1) / 2
        else:
            y_limit = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)
            area += (fpr_limit - x0) * (y0 + y_limit) / 2
    return area / fpr_limit


def random_blobs(rng, n, size):
    from scipy import ndimage
    seeds = rng.random((n, size, size)) < 0.03
    # 0, 1 or 2 dilations (ndimage's iterations=0 would mean "until nothing changes")
    masks = np.array([ndimage.binary_dilation(s, iterations=k) if k else s
                      for s, k in zip(seeds, rng.integers(0, 3, n))])
    masks[0] = False                    # one defect-free image
    return masks


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("fpr_limit", [0.3, 0.05, 1.0])
def test_aupro_matches_brute_force(seed, fpr_limit):
    rng = np.random.default_rng(seed)
    masks = random_blobs(rng, 4, 14)
    maps = rng.random(masks.shape) + 0.8 * masks * rng.random(masks.shape)
    if seed % 2:
        maps = np.round(maps * 8) / 8      # many ties between defect and background pixels
    expected = brute_force_aupro(maps, masks, fpr_limit)
    assert metrics.aupro(maps, masks, fpr_limit=fpr_limit) == pytest.approx(expected, abs=1e-9)




def test_aupro_and_f1_max_agree_with_anomalib():
    # Optional cross-check (skips unless anomalib is installed). anomalib 2.7's AUPRO uses the
    # same global sort and cumulative sums as ours but in float32 (maps cast to float32, FPR and
    # PRO summed in float32, the fpr_limit buffer float32), and its F1Max returns float32: the
    # measured differences were at most 1e-7 on maps up to 83×256×256, hence the 1e-6 bound.
    from types import SimpleNamespace
    anomalib_metrics = pytest.importorskip("anomalib.metrics")
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for fpr_limit in (0.3, 0.05, 1.0):
        masks = random_blobs(rng, 6, 64)
        maps = (rng.random(masks.shape) + masks * rng.random(masks.shape)).astype(np.float32)
        reference = anomalib_metrics.AUPRO(fields=["anomaly_map", "gt_mask"], fpr_limit=fpr_limit)
        reference.update(SimpleNamespace(anomaly_map=torch.from_numpy(maps),
                                         gt_mask=torch.from_numpy(masks)))
        assert metrics.aupro(maps, masks, fpr_limit=fpr_limit) == pytest.approx(
            float(reference.compute()), abs=1e-6)

        labels = (rng.random(200) < 0.5).astype(np.int64)
        scores = (rng.random(200) + 0.5 * labels * rng.random(200)).astype(np.float32)
        reference = anomalib_metrics.F1Max(fields=["pred_score", "gt_label"])
        reference.update(SimpleNamespace(pred_score=torch.from_numpy(scores),
                                         gt_label=torch.from_numpy(labels)))
        assert metrics.f1_max(labels, scores) == pytest.approx(float(reference.compute()), abs=1e-6)
