"""The shared pretrained-feature component and the feature-space detectors (PatchCore, PaDiM,
DFR-style feature autoencoder). Their interface is checked with every detector in
tests/test_detectors.py; here: what each computes."""

import numpy as np
import pytest
import torch

from adlib import detectors
from adlib.models import feature_space as parts
from adlib.models import features, saeedi

FEATURE_DETECTORS = ("patchcore", "padim", "feature_ae", "reverse_distillation")


def smooth_images(n: int, size: int, seed: int, channels: int = 3) -> torch.Tensor:
    """Low-frequency texture around one mean: normal images that resemble each other."""
    g = torch.Generator().manual_seed(seed)
    coarse = 0.5 + 0.15 * torch.rand(n, channels, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def with_defect(images: torch.Tensor, top: int = 20, left: int = 28, side: int = 14) -> torch.Tensor:
    """A high-contrast checkerboard pasted into each image: an anomaly no normal image shows."""
    out = images.clone()
    grid = torch.arange(side)
    checker = ((grid[:, None] // 2 + grid[None, :] // 2) % 2).float()
    out[:, :, top:top + side, left:left + side] = checker
    return out


# ----------------------------------------------------------------------------- features

def test_the_head_layer_is_saeedis_deep_feature_path_bit_for_bit():
    # Saeedi's numbers must not move: its CNN output equals the shared backbone's "head" layer
    # and a freshly loaded network's own extract_features
    x = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    head = features.pretrained_features(("head",))
    saeedis = saeedi.shared_extractor().feature_maps(x)
    fresh = features.load_efficientnet_lite0().extract_features((x - head.mean) / head.std)
    assert torch.equal(head(x)[0], saeedis) and torch.equal(saeedis, fresh)


def test_layers_come_at_their_strides_and_grey_is_repeated_to_rgb():
    extractor = features.pretrained_features(("block2", "block4", "block10"))
    grey = torch.rand(2, 1, 64, 64)
    maps = extractor(grey)
    assert [tuple(m.shape[1:]) for m in maps] == [(24, 16, 16), (40, 8, 8), (112, 4, 4)]
    assert extractor.channels == [24, 40, 112] and extractor.strides == [4, 8, 16]
    for a, b in zip(maps, extractor(grey.expand(-1, 3, -1, -1))):
        assert torch.equal(a, b)
    assert not any(p.requires_grad for p in extractor.network.parameters()) and not extractor.network.training
    with pytest.raises(ValueError, match="block4"):
        features.pretrained_features(("block99",))


def test_the_backbone_is_cached_and_loading_leaves_the_rng_alone():
    features._NETWORKS.clear()
    features._FEATURES.clear()
    torch.manual_seed(0)
    first = features.pretrained_features(("block4",))
    after_loading = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), after_loading)
    assert features.pretrained_features(("block4",)) is first
    assert features.pretrained_features(("block10",)).network is first.network


# ----------------------------------------------------------------------------- coreset

def clustered_points(n: int = 3000, dim: int = 24, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(50, dim, generator=g)
    return centres[torch.randint(50, (n,), generator=g)] + 0.5 * torch.randn(n, dim, generator=g)


def test_the_coreset_has_the_requested_size_and_starts_with_the_farthest_point():
    points = clustered_points()
    rows = parts.greedy_coreset(points, 40, projection_dim=None, generator=torch.Generator().manual_seed(1))
    assert rows.shape == (40,) and len(set(rows.tolist())) == 40
    from_first = ((points - points[rows[0]]) ** 2).sum(dim=1)
    assert rows[1] == int(torch.argmax(from_first))
    assert parts.coreset_size(1000, 0.01) == 10 and parts.coreset_size(5, 0.01) == 1


@pytest.mark.parametrize("candidates", [8, 64, 10_000])
def test_the_lazy_coreset_selects_what_the_plain_greedy_loop_selects(candidates):
    points = clustered_points()
    lazy = parts.greedy_coreset(points, 120, projection_dim=None, generator=torch.Generator().manual_seed(1),
                                candidates=candidates)
    plain = parts.naive_greedy_coreset(points, 120, first=int(lazy[0]))
    assert torch.equal(lazy, plain)


def test_nearest_bank_rows_in_chunks_match_a_full_distance_matrix():
    g = torch.Generator().manual_seed(0)
    queries, bank = torch.randn(50, 6, generator=g), torch.randn(20, 6, generator=g)
    distances, rows = parts.nearest_bank_rows(queries, bank, chunk=7)
    full = torch.cdist(queries, bank)
    assert torch.equal(rows, full.argmin(dim=1))
    torch.testing.assert_close(distances, full.amin(dim=1))


# ----------------------------------------------------------------------------- Gaussians

def test_mahalanobis_on_a_two_by_two_grid_with_known_gaussians():
    # four training embeddings per position, (±a, 0) and (0, ±b): mean 0, covariance
    # diag(2a²/3, 2b²/3) (unbiased, N − 1 = 3), plus epsilon on the diagonal
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])            # one scale per position of the 2×2 grid
    b = 2 * a
    zero = torch.zeros(4)
    train = torch.stack([torch.stack([a, zero]), torch.stack([-a, zero]),
                         torch.stack([zero, b]), torch.stack([zero, -b])])     # (N=4, d=2, P=4)
    epsilon = 0.01
    mean, inverse = parts.gaussian_fit(train, epsilon)
    torch.testing.assert_close(mean, torch.zeros(2, 4))
    test = torch.ones(1, 2, 4)
    expected = torch.sqrt(1 / (2 * a ** 2 / 3 + epsilon) + 1 / (2 * b ** 2 / 3 + epsilon))
    torch.testing.assert_close(parts.mahalanobis(test, mean, inverse, chunk=3)[0], expected)


def test_gaussian_smoothing_keeps_a_constant_map_and_spreads_a_peak():
    constant = torch.full((1, 20, 20), 2.0)
    torch.testing.assert_close(parts.gaussian_smooth(constant, 4.0), constant)
    peak = torch.zeros(1, 21, 21)
    peak[0, 10, 10] = 1.0
    blurred = parts.gaussian_smooth(peak, 2.0)
    assert blurred[0, 10, 10] == blurred.max() < 1.0 and blurred[0, 10, 14] > 0
    assert parts.gaussian_smooth(torch.rand(2, 3, 3), 4.0).shape == (2, 3, 3)      # kernel shrinks


# ----------------------------------------------------------------------------- detectors

@pytest.fixture(scope="module")
def defect_predictions():
    train, clean = smooth_images(8, 64, 0), smooth_images(4, 64, 1)
    test = torch.cat([clean, with_defect(clean)])
    out = {}
    for name in FEATURE_DETECTORS:
        detector = detectors.get(name, channels=3, image_size=64, seed=0, coreset_fraction=0.1) \
            if name == "patchcore" else detectors.get(name, channels=3, image_size=64, seed=0)
        detector.fit(train, iterations=150, batch_size=4, progress=False)
        out[name] = (detector, detector.predict(test))
    return out


@pytest.mark.parametrize("name", FEATURE_DETECTORS)
def test_a_pasted_patch_scores_higher_and_lights_up_its_place(defect_predictions, name):
    detector, prediction = defect_predictions[name]
    clean, defective = prediction.scores[:4], prediction.scores[4:]
    assert defective.min() > clean.max(), (clean, defective)
    inside = prediction.maps[4:, 20:34, 28:42].mean()
    outside = prediction.maps[4:, 44:, :20].mean()
    assert inside > 2 * outside
    assert detector.family


def test_patchcore_bank_and_reweighted_score(defect_predictions):
    detector, prediction = defect_predictions["patchcore"]
    assert len(detector.bank) == parts.coreset_size(detector.training_patches, 0.1)
    # the reweighting only shrinks the largest patch distance (weights in (0, 1])
    assert np.all(prediction.extra["reweighted"] <= prediction.scores + 1e-6)
    assert np.all(prediction.extra["reweighted"] > 0)


def test_padim_keeps_a_channel_subset_fixed_by_the_seed():
    train = smooth_images(6, 32, 0)
    kept = [detectors.get("padim", channels=3, seed=s, features_kept=20).fit(train).channels_kept for s in (0, 0, 1)]
    assert torch.equal(kept[0], kept[1]) and not torch.equal(kept[0], kept[2])
    assert len(kept[0]) == 20 and torch.all(kept[0][1:] > kept[0][:-1])
    with pytest.raises(ValueError, match="training images"):
        detectors.get("padim", channels=3, features_kept=20).fit(train).predict(smooth_images(2, 48, 1))


def test_the_same_seed_gives_the_same_feature_scores():
    train, test = smooth_images(6, 40, 0), smooth_images(3, 40, 1)
    for name in FEATURE_DETECTORS:
        runs = [detectors.get(name, channels=3, seed=2, **detectors.REGISTRY[name].quick_check)
                .fit(train, iterations=3, batch_size=4, progress=False).predict(test).scores for _ in range(2)]
        np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("name", ["feature_ae", "reverse_distillation"])
def test_the_feature_autoencoders_train_with_the_shared_loop_and_have_a_health_check(name):
    train = smooth_images(8, 32, 0)
    detector = detectors.get(name, channels=3, seed=0, **detectors.REGISTRY[name].quick_check)
    detector.fit(train, iterations=60, batch_size=4, progress=False)
    losses = detector.history.series("loss")
    assert len(losses) == 60 and np.mean(losses[-10:]) < np.mean(losses[:10])
    assert detector.health(smooth_images(3, 32, 5)).checks["error_ratio"] > 0


def test_reverse_distillation_packs_scales_and_scores_cosine_distance():
    shapes = [(3, 4, 4), (5, 2, 2)]
    student = parts.ReverseDistillation(shapes, embedding=4)
    maps = [torch.randn(2, *s) for s in shapes]
    for a, b in zip(student.unpack(parts.pack(maps)), maps):
        assert torch.equal(a, b)
    packed = parts.pack(maps)
    # a student equal to the teacher up to each position's length has zero loss
    assert torch.allclose(student.per_image_loss(3 * packed, packed), torch.zeros(2), atol=1e-6)
    assert torch.allclose(student.per_image_loss(-packed, packed), torch.full((2,), 4.0))   # 2 scales × 2
    with pytest.raises(ValueError, match="image size"):
        student.unpack(torch.zeros(2, 7))


def test_bad_hyperparameters_name_the_fix():
    with pytest.raises(ValueError, match="coreset_fraction"):
        detectors.get("patchcore", coreset_fraction=0)
    with pytest.raises(ValueError, match="grid"):
        detectors.get("feature_ae", layers=("block4", "block10"), grid="block2")
    with pytest.raises(ValueError, match="layers"):
        detectors.get("padim", layers=("block4", "block4"))
