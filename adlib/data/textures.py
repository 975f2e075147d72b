"""Real textures that ship with scikit-image, with synthesised, exactly masked defects.

Stand-ins for the industrial materials of Schneider et al.: ``brick`` is a regular texture
(like their riblet foil), ``gravel`` a stochastic one (like their granular steel). The top
part of each image gives defect-free training data; the bottom part is copied several times
and each copy gets one defect: a scratch, a stain or a smear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import data as skdata
from skimage.draw import line_aa
from skimage.transform import resize

TEXTURES = {"brick": "regular", "gravel": "stochastic", "grass": "stochastic"}
DEFECTS = ("scratch", "stain", "smear")


@dataclass
class TextureSet:
    name: str
    kind: str               # "regular" or "stochastic"
    train: np.ndarray       # (1, 1, h, W) defect-free training region, float32 in [0, 1]
    test: np.ndarray        # (N, 1, H, W) test images, each with one defect
    masks: np.ndarray       # (N, H, W) bool
    defects: list[str]      # defect type per test image


def load_texture(name: str, size: int = 256, contrast: float | None = 0.2) -> np.ndarray:
    """A scikit-image texture as float32 in [0, 1], resized to ``size``×``size``.

    With ``contrast`` the image is standardised to mean 0.5 and that standard deviation
    (then clipped to [0, 1]): the photographs differ a lot in contrast, and a low-contrast
    input makes every model's first minimum, the flat mean image, much harder to leave.
    """
    if name not in TEXTURES:
        raise ValueError(f"unknown texture {name!r}; choose one of {sorted(TEXTURES)}")
    image = getattr(skdata, name)().astype(np.float32) / 255.0
    image = resize(image, (size, size), anti_aliasing=True)
    if contrast is not None:
        image = 0.5 + contrast * (image - image.mean()) / max(image.std(), 1e-6)
    return np.clip(image, 0, 1).astype(np.float32)


def add_defect(image: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One synthesised defect on a copy of ``image`` (H, W); returns (image, mask)."""
    height, width = image.shape
    out = image.copy()
    if kind == "scratch":                 # a thin bright or dark line across part of the image
        y0, y1 = rng.integers(0, height, 2)
        x0 = int(rng.integers(0, width // 3))
        x1 = int(rng.integers(2 * width // 3, width))
        canvas = np.zeros_like(image)
        rr, cc, val = line_aa(int(y0), x0, int(y1), x1)
        canvas[rr, cc] = val
        canvas = ndimage.grey_dilation(canvas, size=(2, 2))
        mask = canvas > 0.25           # moved over a quarter of the way to the scratch's value (faint AA edge left out)
        value = 0.95 if image.mean() < 0.5 else 0.05
        out = out * (1 - canvas) + value * canvas
    elif kind == "stain":                 # a soft dark blob
        cy, cx = rng.uniform(0.25, 0.75, 2) * (height, width)
        radius = rng.uniform(0.06, 0.12) * min(height, width)
        yy, xx = np.mgrid[0:height, 0:width]
        weight = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
        mask = weight > 0.3            # darkened by over 18 % (0.6 · 0.3); the faint tail is left out
        out = out * (1 - 0.6 * weight)
    elif kind == "smear":                 # a blurred rectangle: the texture is wiped out
        h, w = (rng.uniform(0.15, 0.3, 2) * (height, width)).astype(int)
        y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
        blurred = ndimage.gaussian_filter(image, 4)
        mask = np.zeros_like(image, dtype=bool)
        mask[y:y + h, x:x + w] = True
        out = np.where(mask, blurred, image)
    else:
        raise ValueError(f"unknown defect {kind!r}; choose one of {DEFECTS}")
    return np.clip(out, 0, 1).astype(np.float32), mask


def texture_set(name: str, size: int = 256, n_test: int = 6, train_fraction: float = 0.5,
                seed: int = 0) -> TextureSet:
    """Training region (top ``train_fraction``) and ``n_test`` defective copies of the rest."""
    if not 0.2 <= train_fraction <= 0.8:
        raise ValueError(f"train_fraction={train_fraction} must be within [0.2, 0.8]")
    rng = np.random.default_rng(seed)
    image = load_texture(name, size)
    split = int(round(size * train_fraction))
    train, rest = image[:split], image[split:]
    tests, masks, kinds = [], [], []
    for i in range(n_test):
        kind = DEFECTS[i % len(DEFECTS)]
        defective, mask = add_defect(rest, kind, rng)
        tests.append(defective)
        masks.append(mask)
        kinds.append(kind)
    return TextureSet(name, TEXTURES[name], train[None, None], np.stack(tests)[:, None],
                      np.stack(masks), kinds)
