import numpy as np
import pytest
from PIL import Image

from adlib.data import folders, synthetic, textures


@pytest.mark.parametrize("name", ["chess", "noise"])
def test_synthetic_sets_have_exact_masks(name):
    data = synthetic.GENERATORS[name](size=64, seed=1)
    assert data.normal.shape == (4, 1, 64, 64) and data.anomalous.shape == (4, 1, 64, 64)
    assert data.masks.shape == (4, 64, 64) and data.masks.dtype == bool
    assert data.normal.min() >= 0 and data.normal.max() <= 1
    assert all(m.any() for m in data.masks) and all(m.mean() < 0.5 for m in data.masks)
    again = synthetic.GENERATORS[name](size=64, seed=1)
    assert np.array_equal(data.anomalous, again.anomalous)


def test_chess_mask_is_the_set_of_changed_pixels():
    data = synthetic.chess(size=64, square=8, seed=2)
    normal = data.normal[0, 0]
    for image, mask in zip(data.anomalous[:, 0], data.masks):
        assert np.array_equal(image != normal, mask)


def test_synthetic_rejects_bad_sizes():
    with pytest.raises(ValueError):
        synthetic.chess(size=8)
    with pytest.raises(ValueError):
        synthetic.AnomalySet("x", np.zeros((1, 1, 8, 8)), np.zeros((2, 1, 8, 8)), np.zeros((1, 8, 8), bool))


def test_texture_set():
    tex = textures.texture_set("gravel", size=128, n_test=3, seed=0)
    assert tex.train.shape == (1, 1, 64, 128) and tex.test.shape == (3, 1, 64, 128)
    assert tex.kind == "stochastic" and tex.defects == ["scratch", "stain", "smear"]
    assert all(m.any() for m in tex.masks)
    with pytest.raises(ValueError, match="unknown texture"):
        textures.texture_set("marble")


def make_category(root, mask_size=(20, 20), corrupt=False, drop_mask=False):
    cat = root / "widget"
    for sub in ("train/good", "test/good", "test/crack", "ground_truth/crack"):
        (cat / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(cat / f"train/good/{i:03d}.png")
    Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(cat / "test/good/000.png")
    Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(cat / "test/crack/000.png")
    mask = np.zeros(mask_size[::-1], np.uint8)
    mask[5:10, 5:10] = 255
    if not drop_mask:
        Image.fromarray(mask).save(cat / "ground_truth/crack/000_mask.png")
    if corrupt:
        (cat / "train/good/001.png").write_bytes(b"not an image")
    return cat


def test_mvtec_loader(tmp_path):
    cat = make_category(tmp_path)
    assert folders.find_mvtec_categories(tmp_path) == [cat]
    data = folders.load_mvtec_category(cat, size=16)
    assert data.train.shape == (3, 1, 16, 16) and data.test.shape == (2, 1, 16, 16)
    assert list(data.labels) == [1, 0] and data.defect_types == ["crack", "good"]
    assert data.masks[0].any() and not data.masks[1].any()


def test_mvtec_errors_name_the_file(tmp_path):
    cat = make_category(tmp_path / "a", mask_size=(30, 20))
    with pytest.raises(ValueError, match="000_mask.png.*30×20"):
        folders.load_mvtec_category(cat, size=16)
    cat = make_category(tmp_path / "b", corrupt=True)
    with pytest.raises(ValueError, match="cannot read image .*001.png"):
        folders.load_mvtec_category(cat, size=16)
    cat = make_category(tmp_path / "c", drop_mask=True)
    with pytest.raises(folders.DataLayoutError, match="no mask for defective image"):
        folders.load_mvtec_category(cat, size=16)
    with pytest.raises(folders.DataLayoutError, match="not an MVTec-layout category"):
        folders.load_mvtec_category(tmp_path)
    assert folders.find_mvtec_categories(tmp_path / "a" / "widget" / "test") == []


def test_synthetic_strength_noise_and_reference_iou():
    weak = synthetic.chess(size=64, square=8, seed=3, antialias=4, noise_std=0.08, max_shift=1.0, random_phase=True)
    strong = synthetic.chess(size=64, square=8, seed=3, antialias=4, noise_std=0.08, max_shift=8.0, random_phase=True)
    assert np.array_equal(weak.clean[:, 0] != 0, weak.clean[:, 0] != 0) and weak.clean.shape == weak.anomalous.shape
    assert synthetic.reference_iou(weak) < synthetic.reference_iou(strong) <= 1
    clean = synthetic.noise(size=64, seed=3, contrast=0.4)
    assert synthetic.reference_iou(clean) == 1.0          # no acquisition noise: the residual is exact
    faint, bright = (synthetic.noise(size=64, seed=3, contrast=c, noise_std=0.08) for c in (0.1, 0.5))
    assert synthetic.reference_iou(faint) < synthetic.reference_iou(bright)
    with pytest.raises(ValueError):
        synthetic.chess(size=64, antialias=0)
