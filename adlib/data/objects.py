"""Synthetic hazelnut-like objects with four masked defect types (crack, cut, hole, print).

A stand-in for MVTec AD *hazelnut* {cite}`bergmann2019mvtec` that ships with adlib: one
textured, roughly round object per image on a plain dark background. Shape (a smooth
random outline with a pointed tip), size, position, rotation, colour, shading and the
surface texture (streaks running from the tip and smooth blotches) vary from image to
image. The four defect types imitate hazelnut's test set:

- **crack**: a thin dark branching line across the shell;
- **cut**: a narrow wedge notched in from the outline, showing the light kernel inside;
- **hole**: a dark round pit with a lighter rim;
- **print**: letters printed on the shell in a dark or light ink.

Every defect comes with its exact pixel mask. The images are RGB float32 in [0, 1];
:func:`hazelnut_like` returns a :class:`ObjectSet` with the same fields as an MVTec-layout
category loaded by :func:`adlib.data.folders.load_mvtec_category`, so the chapter treats
both the same way.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage
from skimage import draw, morphology

DEFECTS = ("crack", "cut", "hole", "print")


@dataclass
class ObjectSet:
    """Training and test images with masks, in the layout of ``folders.MVTecCategory``."""

    name: str
    root: Path
    train: np.ndarray                  # (N, 3, H, W) good images
    test: np.ndarray                   # (M, 3, H, W)
    labels: np.ndarray                 # (M,) 0 good, 1 defective
    defect_types: list[str]            # per test image, "good" for normal ones
    masks: np.ndarray                  # (M, H, W) bool
    files: list[str] = field(default_factory=list)
    resized: bool = False

    def __post_init__(self) -> None:
        if not (len(self.test) == len(self.labels) == len(self.defect_types) == len(self.masks)):
            raise ValueError(f"{self.name}: {len(self.test)} test images, {len(self.labels)} labels, "
                             f"{len(self.defect_types)} types and {len(self.masks)} masks")
        if self.masks.shape[1:] != self.test.shape[2:]:
            raise ValueError(f"{self.name}: masks of size {self.masks.shape[1:]} do not match "
                             f"images of size {self.test.shape[2:]}")


# ----------------------------------------------------------------------------- the object

def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    field_ = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return field_ / max(field_.std(), 1e-8)


@dataclass
class _Object:
    image: np.ndarray          # (H, W, 3)
    inside: np.ndarray         # (H, W) float coverage of the object in [0, 1]
    centre: tuple[float, float]
    radius: np.ndarray         # outline radius as a function of angle (callable via _radius_at)
    harmonics: list
    base_radius: float
    rotation: float


def _outline(theta: np.ndarray, base: float, harmonics: list, rotation: float) -> np.ndarray:
    r = np.ones_like(theta)
    for k, amplitude, phase in harmonics:
        r += amplitude * np.cos(k * (theta - rotation) + phase)
    # a pointed tip at angle `rotation` (hazelnuts have one)
    r += 0.12 * np.exp(-((np.angle(np.exp(1j * (theta - rotation)))) ** 2) / (2 * 0.18 ** 2))
    return base * r


def _render_object(size: int, rng: np.random.Generator) -> _Object:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    base = size * rng.uniform(0.27, 0.33)
    cy, cx = size / 2 + rng.uniform(-0.06, 0.06, 2) * size
    rotation = rng.uniform(-np.pi, np.pi)
    harmonics = [(k, rng.uniform(0.0, 0.06 / k), rng.uniform(0, 2 * np.pi)) for k in (2, 3, 4)]
    dy, dx = yy - cy, xx - cx
    dist, theta = np.hypot(dy, dx), np.arctan2(dy, dx)
    edge = _outline(theta, base, harmonics, rotation)
    inside = np.clip(edge - dist + 0.5, 0, 1)                      # anti-aliased outline

    # colour: a brown shell, its hue and brightness varying per object
    shell = np.array([0.58, 0.38, 0.20]) * rng.uniform(0.85, 1.15) + rng.uniform(-0.03, 0.03, 3)
    rel = np.clip(dist / np.maximum(edge, 1e-6), 0, 1)
    shading = 1.05 - 0.35 * rel ** 2                               # rounder look: darker rim
    light = rng.uniform(-1, 1, 2)                                  # light direction
    shading += 0.08 * (light[0] * dy + light[1] * dx) / base
    # streaks running from the tip across the shell, and smooth blotches
    along = np.angle(np.exp(1j * (theta - rotation)))
    streaks = np.sin(along * rng.integers(9, 15) + 2.5 * _smooth_noise(rng, size, size / 16))
    blotches = _smooth_noise(rng, size, size / 24)
    fine = _smooth_noise(rng, size, 0.8)
    texture = 1 + 0.06 * streaks * rel + 0.05 * blotches + 0.025 * fine
    # the lighter, rough base opposite the tip
    base_patch = np.exp(-((np.angle(np.exp(1j * (theta - rotation - np.pi)))) ** 2) / (2 * 0.45 ** 2))
    base_patch *= np.clip((rel - 0.55) / 0.3, 0, 1)
    colour = shell[None, None, :] * (shading * texture)[..., None]
    colour = colour * (1 - 0.35 * base_patch[..., None]) + 0.35 * base_patch[..., None] * np.array([0.72, 0.6, 0.45])
    background = rng.uniform(0.03, 0.09) + 0.01 * _smooth_noise(rng, size, 2.0)
    image = inside[..., None] * colour + (1 - inside[..., None]) * background[..., None]
    image += 0.008 * rng.standard_normal(image.shape)
    return _Object(np.clip(image, 0, 1), inside, (cy, cx), edge, harmonics, base, rotation)


def _point_inside(obj: _Object, rng: np.random.Generator, max_rel: float) -> tuple[float, float]:
    angle, rel = rng.uniform(-np.pi, np.pi), np.sqrt(rng.uniform(0, 1)) * max_rel
    r = _outline(np.array([angle]), obj.base_radius, obj.harmonics, obj.rotation)[0] * rel
    return obj.centre[0] + r * np.sin(angle), obj.centre[1] + r * np.cos(angle)


# ----------------------------------------------------------------------------- defects

def _crack(obj: _Object, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    size = obj.image.shape[0]
    lines = np.zeros((size, size), bool)
    y, x = _point_inside(obj, rng, 0.5)
    heading = rng.uniform(-np.pi, np.pi)
    step = max(size / 64, 1.0)
    branches = [(y, x, heading, int(rng.integers(14, 22)))]
    while branches:
        y, x, heading, n = branches.pop()
        for _ in range(n):
            heading += rng.normal(0, 0.35)
            ny, nx = y + step * np.sin(heading), x + step * np.cos(heading)
            rr, cc = draw.line(int(round(y)), int(round(x)), int(round(ny)), int(round(nx)))
            keep = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
            lines[rr[keep], cc[keep]] = True
            y, x = ny, nx
            if rng.uniform() < 0.08 and len(branches) < 3:
                branches.append((y, x, heading + rng.choice([-1, 1]) * rng.uniform(0.5, 1.0), n // 2))
    width = max(int(round(size / 128)), 0)
    crack = morphology.dilation(lines, morphology.disk(width)) if width else lines
    crack &= obj.inside > 0.99         # fully on the object, not its antialiased rim
    image = obj.image.copy()
    darkness = rng.uniform(0.15, 0.3)
    image[crack] = image[crack] * darkness
    return image, crack


def _cut(obj: _Object, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    size = obj.image.shape[0]
    angle = rng.uniform(-np.pi, np.pi)
    edge = _outline(np.array([angle]), obj.base_radius, obj.harmonics, obj.rotation)[0]
    cy, cx = obj.centre
    depth = edge * rng.uniform(0.4, 0.7)
    half_width = edge * rng.uniform(0.1, 0.18)
    outer = edge * 1.05
    ny, nx = np.sin(angle), np.cos(angle)              # outward direction
    ty, tx = -nx, ny                                   # tangent
    tip = (cy + (edge - depth) * ny, cx + (edge - depth) * nx)
    a = (cy + outer * ny + half_width * ty, cx + outer * nx + half_width * tx)
    b = (cy + outer * ny - half_width * ty, cx + outer * nx - half_width * tx)
    rr, cc = draw.polygon([tip[0], a[0], b[0]], [tip[1], a[1], b[1]], shape=(size, size))
    wedge = np.zeros((size, size), bool)
    wedge[rr, cc] = True
    wedge &= obj.inside > 0.5          # what the cut removes: pixels at least half object
    kernel = np.array([0.86, 0.76, 0.56]) * rng.uniform(0.9, 1.05)
    shade = 0.85 + 0.15 * _smooth_noise(rng, size, 1.5)[..., None] * 0.3
    image = obj.image.copy()
    image[wedge] = np.clip(kernel[None, :] * shade[wedge], 0, 1)
    # a dark line along the cut's two faces
    outline = wedge & ~morphology.erosion(wedge, morphology.disk(1))
    image[outline] *= 0.5
    return image, wedge


def _hole(obj: _Object, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    size = obj.image.shape[0]
    cy, cx = _point_inside(obj, rng, 0.6)
    ry = obj.base_radius * rng.uniform(0.12, 0.2)
    rx = ry * rng.uniform(0.7, 1.3)
    rr, cc = draw.ellipse(cy, cx, ry, rx, shape=(size, size), rotation=rng.uniform(0, np.pi))
    hole = np.zeros((size, size), bool)
    hole[rr, cc] = True
    hole &= obj.inside > 0.99
    rim = morphology.dilation(hole, morphology.disk(max(int(size / 100), 1))) & ~hole & (obj.inside > 0.99)
    image = obj.image.copy()
    yy, xx = np.nonzero(hole)
    depth = 1 - np.clip(np.hypot((yy - cy) / ry, (xx - cx) / rx), 0, 1)
    image[yy, xx] = (0.12 - 0.08 * depth)[:, None] * np.array([1.0, 0.8, 0.6])
    image[rim] = np.clip(image[rim] * 1.35 + 0.05, 0, 1)
    mask = hole | rim
    return image, mask


def _print(obj: _Object, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    size = obj.image.shape[0]
    n = int(rng.integers(2, 4))
    text = "".join(rng.choice(list(string.ascii_uppercase + string.digits), n))
    font_size = max(int(obj.base_radius * rng.uniform(0.5, 0.7)), 6)
    font = ImageFont.load_default(size=font_size)
    canvas = Image.new("L", (size, size), 0)
    pen = ImageDraw.Draw(canvas)
    left, top, right, bottom = pen.textbbox((0, 0), text, font=font)
    cy, cx = _point_inside(obj, rng, 0.25)
    pen.text((cx - (right - left) / 2 - left, cy - (bottom - top) / 2 - top), text, fill=255, font=font)
    canvas = canvas.rotate(float(rng.uniform(-40, 40)), resample=Image.BILINEAR,
                           center=(float(cx), float(cy)))
    ink_cover = np.asarray(canvas, dtype=np.float64) / 255.0 * (obj.inside > 0.99)
    ink = np.array([0.05, 0.05, 0.08]) if rng.uniform() < 0.5 else np.array([0.93, 0.9, 0.85])
    image = obj.image * (1 - ink_cover[..., None]) + ink[None, None, :] * ink_cover[..., None]
    return image, ink_cover > 0.25     # over a quarter inked: the faint antialiased edge of a glyph left out


_MAKERS = {"crack": _crack, "cut": _cut, "hole": _hole, "print": _print}


def render(size: int, rng: np.random.Generator, defect: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One (3, H, W) image and its (H, W) mask: a good object, or one with ``defect``."""
    if defect is not None and defect not in _MAKERS:
        raise ValueError(f"unknown defect {defect!r}; choose from {', '.join(DEFECTS)}")
    for _ in range(20):
        obj = _render_object(size, rng)
        if defect is None:
            return obj.image.transpose(2, 0, 1).astype(np.float32), np.zeros((size, size), bool)
        image, mask = _MAKERS[defect](obj, rng)
        if mask.sum() >= max(size * size // 2000, 4):           # a visible defect; else redraw
            return np.clip(image, 0, 1).transpose(2, 0, 1).astype(np.float32), mask
    raise RuntimeError(f"could not place a {defect} defect on a {size}-pixel object")


def hazelnut_like(n_train: int = 390, n_test_good: int = 40, n_test_per_defect: int = 17,
                  size: int = 256, defects: tuple[str, ...] | list[str] = DEFECTS,
                  seed: int = 0, name: str = "hazelnut-like") -> ObjectSet:
    """A synthetic hazelnut-like category (defaults: MVTec AD hazelnut's counts and size)."""
    if size < 32:      # a floor, not tuned: the defects scale with the image and would shrink to a few pixels
        raise ValueError(f"size={size} is too small: use at least 32 pixels")
    if n_train < 1 or n_test_per_defect < 0 or n_test_good < 0:
        raise ValueError("need at least one training image and non-negative test counts")
    unknown = [d for d in defects if d not in _MAKERS]
    if unknown:
        raise ValueError(f"unknown defect(s) {unknown}; choose from {', '.join(DEFECTS)}")
    rng = np.random.default_rng(seed)
    train = np.stack([render(size, rng)[0] for _ in range(n_train)])
    images, masks, types = [], [], []
    for kind in ["good"] * n_test_good + [d for d in defects for _ in range(n_test_per_defect)]:
        image, mask = render(size, rng, None if kind == "good" else kind)
        images.append(image)
        masks.append(mask)
        types.append(kind)
    if not images:
        raise ValueError("the test set would be empty: ask for good or defective test images")
    labels = np.array([int(t != "good") for t in types])
    files = [f"test/{t}/{i:03d}.png" for i, t in enumerate(types)]
    return ObjectSet(name, Path(f"<generated seed={seed}>"), train, np.stack(images), labels, types,
                     np.stack(masks), files)


def load_category_with_masks(folder: str | Path, size: int, max_train: int | None = None,
                             max_test_per_type: int | None = None):
    """An MVTec-layout category for pixel-level evaluation: every defect needs its mask.

    Wraps :func:`adlib.data.folders.load_mvtec_category` (RGB, resized to ``size``) and
    fails, naming the folder or file, when the category has no ``ground_truth`` folder, no
    defective test images, a defective image without its mask, or a mask whose size differs
    from its image's.
    """
    from adlib.data import folders

    folder = Path(folder)
    if not folders.is_mvtec_category(folder):
        raise folders.DataLayoutError(f"{folder} is not an MVTec-layout category; expected "
                                      f"{folders.MVTEC_LAYOUT}")
    defect_dirs = [p for p in folders.subfolders(folder / "test") if p.name != "good"]
    if not defect_dirs:
        raise folders.DataLayoutError(f"{folder / 'test'} has no defect folder besides 'good': pixel "
                                      f"thresholding needs defective test images with masks")
    if not (folder / "ground_truth").is_dir():
        raise folders.DataLayoutError(f"{folder / 'ground_truth'} does not exist: this chapter needs a "
                                      f"mask <category>/ground_truth/<defect>/<stem>_mask.png for "
                                      f"every defective test image")
    category = folders.load_mvtec_category(folder, size=size, grey=False, max_train=max_train,
                                           max_test_per_type=max_test_per_type, require_masks=True)
    for i, (kind, mask) in enumerate(zip(category.defect_types, category.masks)):
        if kind != "good" and not mask.any():
            raise folders.DataLayoutError(f"the mask of {folder / category.files[i]} is empty: a "
                                          f"defective image needs at least one defect pixel")
    return category


def calibration_split(defect_types, n_val_per_type: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (validation, test): ``n_val_per_type`` images of each defect type (at most half
    of them, evenly spaced) go to the validation split used to choose τ; the rest and every
    good image are the test split."""
    types = np.asarray(defect_types)
    val = []
    for kind in sorted(set(types) - {"good"}):
        index = np.flatnonzero(types == kind)
        n = min(n_val_per_type, len(index) // 2)
        if n:
            val.extend(index[np.linspace(0, len(index) - 1, n).round().astype(int)])
    val = np.array(sorted(set(val)), dtype=int)
    test = np.setdiff1d(np.arange(len(types)), val)
    return val, test
