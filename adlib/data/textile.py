"""Woven textiles with weaving flaws, and the patch sets T, V, D of Soukup & Pinetz (2018).

The paper's two web patterns are proprietary. This module renders woven fabrics from their
structure instead: warp yarns (vertical) and weft yarns (horizontal) whose centre lines are
spaced with a jittered pitch (*yarn thickness jitter*), interlaced by a weave (``plain``:
1/1, ``twill``: 2/2 with its diagonal ribs, ``basket``: 2/2 plain), and the whole web bent by
a smooth random displacement field (*slight swirling distortion*). Because every pixel knows
which yarn it shows, flaws are inserted with exact masks:

- ``missing_yarn``: a stretch of one yarn is absent; the gap shows the dark backing;
- ``broken_yarn``: one yarn breaks and its loose end floats on top of the crossing yarns;
- ``double_yarn``: two yarns were woven instead of one: a thicker, doubled yarn;
- ``knot``: a slub, a bright thick lump on a yarn;
- ``hole``: a torn region where all yarns are missing, with a frayed edge.

A real texture (``skimage.data.brick``) with synthesised flaws (:mod:`adlib.data.textures`)
is the third "pattern".

Patch sets as in the paper (Section III): T from one defect-free region of the web, V from
another defect-free region, D from randomly placed patches around the flaws (a patch belongs
to D when it overlaps a flaw's mask). :func:`mvtec_patch_sets` builds the same three sets
from a real MVTec-layout folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage
from PIL import Image

from adlib.data import folders, textures

WEAVES = {
    # (repeat, rule(i, j) -> warp on top) for warp index i and weft index j
    "plain": lambda i, j: (i + j) % 2 == 0,
    "twill": lambda i, j: (i - j) % 4 < 2,
    "basket": lambda i, j: ((i // 2) + (j // 2)) % 2 == 0,
}
FLAWS = ("missing_yarn", "broken_yarn", "double_yarn", "knot", "hole")
REAL_TEXTURES = ("brick",)
PATTERNS = tuple(WEAVES) + REAL_TEXTURES
BACKING = 0.12            # what shows through where no yarn lies
REAL_SIZE = 512           # side of the real texture (skimage.data.brick is 512×512)


class PatchSetError(ValueError):
    """A patch set cannot be built (empty, or images too small); the message says why."""


@dataclass
class Web:
    """A rendered web: the image and, per pixel, which yarn it shows (for flaws)."""

    image: np.ndarray        # (H, W) float32 in [0, 1]
    mask: np.ndarray         # (H, W) bool: union of all flaw masks
    flaws: list[tuple[str, tuple[int, int]]] = field(default_factory=list)   # (kind, centre y, x)
    labels: np.ndarray | None = None   # (H, W) int: 0 no flaw, k + 1 inside flaw k

    def kind_at(self, y0: int, x0: int, size: int) -> str:
        """The kind of the flaw covering most of the window at (y0, x0), or "none"."""
        window = self.labels[y0:y0 + size, x0:x0 + size]
        counts = np.bincount(window.ravel(), minlength=len(self.flaws) + 1)[1:]
        return self.flaws[int(counts.argmax())][0] if counts.any() else "none"


def _yarn_edges(length: float, pitch: float, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Yarn boundaries along one axis: cumulative jittered pitches covering ``length``."""
    n = int(length / pitch * 1.5) + 8
    widths = pitch * np.clip(1 + jitter * rng.standard_normal(n), 0.5, 1.5)
    return np.concatenate([[-4 * pitch], -4 * pitch + np.cumsum(widths)])


def _swirl(shape: tuple[int, int], strength: float, scale: float,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random displacement field (pixels): Gaussian-filtered noise, scaled."""
    fields = []
    for _ in range(2):
        noise = ndimage.gaussian_filter(rng.standard_normal(shape), scale, mode="wrap")
        noise /= noise.std() + 1e-12
        fields.append(strength * noise)
    return fields[0], fields[1]


def _locate(coord: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Yarn index and position across the yarn (0..1) of each coordinate."""
    index = np.clip(np.searchsorted(edges, coord, side="right") - 1, 0, len(edges) - 2)
    left, right = edges[index], edges[index + 1]
    return index, (coord - left) / (right - left)


def _profile(frac: np.ndarray, gap: float = 0.12) -> np.ndarray:
    """Brightness across a yarn: a rounded bump, dark in the small gap between yarns."""
    inside = np.clip((frac - gap / 2) / (1 - gap), 0, 1)
    return np.sqrt(np.sin(np.pi * inside))


def weave(pattern: str = "plain", size: int | tuple[int, int] = 256, pitch: float = 8.0,
          jitter: float = 0.08, swirl: float = 1.5, swirl_scale: float = 24.0,
          flaws: int | list[str] = 0, seed: int = 0) -> Web:
    """Render a woven web of ``pattern``, optionally with ``flaws`` (a count or kinds).

    ``pitch`` is the mean yarn spacing in pixels, ``jitter`` the relative standard deviation
    of the individual yarn widths, ``swirl`` the standard deviation (pixels) of the smooth
    displacement with correlation length ``swirl_scale``.
    """
    if pattern not in WEAVES:
        raise ValueError(f"unknown weave {pattern!r}; choose one of {sorted(WEAVES)}")
    height, width = (size, size) if isinstance(size, int) else size
    if pitch < 3:      # yarns vary down to half the pitch (_yarn_edges): at 3 px the thinnest is still 1.5 px wide
        raise ValueError(f"pitch={pitch} must be at least 3 pixels")
    rng = np.random.default_rng(seed)
    warp_edges = _yarn_edges(width, pitch, jitter, rng)
    weft_edges = _yarn_edges(height, pitch, jitter, rng)
    dy, dx = _swirl((height, width), swirl, swirl_scale, rng)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = xx + dx, yy + dy                               # distorted coordinates
    i, fx = _locate(u, warp_edges)                        # warp yarn index, across-yarn position
    j, fy = _locate(v, weft_edges)                        # weft yarn index
    warp_up = WEAVES[pattern](i, j)
    # per-yarn shade: yarns differ slightly in colour (dye / tension), plus fibre texture
    warp_shade = 0.78 + 0.05 * rng.standard_normal(len(warp_edges))
    weft_shade = 0.55 + 0.05 * rng.standard_normal(len(weft_edges))
    fibre = ndimage.gaussian_filter(rng.standard_normal((height, width)), 0.7) * 0.04
    # along a floating yarn, it dips slightly where it goes under the crossing yarn
    warp_val = warp_shade[i] * _profile(fx) * (0.85 + 0.15 * _profile(fy, 0.0))
    weft_val = weft_shade[j] * _profile(fy) * (0.85 + 0.15 * _profile(fx, 0.0))
    image = np.where(warp_up, warp_val, weft_val)
    image = np.maximum(image, BACKING)
    mask = np.zeros((height, width), bool)
    web = Web(image, mask, labels=np.zeros((height, width), np.int16))

    kinds = ([FLAWS[k % len(FLAWS)] for k in range(flaws)] if isinstance(flaws, int) else list(flaws))
    fields = dict(i=i, fx=fx, j=j, fy=fy, warp_up=warp_up, warp_val=warp_val, weft_val=weft_val,
                  u=u, v=v, pitch=pitch, warp_shade=warp_shade, weft_shade=weft_shade)
    for kind in kinds:
        _add_flaw(web, kind, fields, rng)
    web.image = np.clip(web.image + fibre, 0, 1).astype(np.float32)
    return web


def _add_flaw(web: Web, kind: str, f: dict, rng: np.random.Generator) -> None:
    """Insert one flaw at a random place, away from the border; updates image and mask."""
    height, width = web.image.shape
    pitch = f["pitch"]
    margin = int(3 * pitch) + 4
    if height <= 2 * margin or width <= 2 * margin:
        raise ValueError(f"a {height}×{width} web is too small for flaws (pitch {pitch})")
    cy, cx = int(rng.integers(margin, height - margin)), int(rng.integers(margin, width - margin))
    vertical = bool(rng.integers(2))                     # a warp (vertical) or weft yarn
    along = f["v"] if vertical else f["u"]               # coordinate along that yarn
    index = f["i"] if vertical else f["j"]
    frac = f["fx"] if vertical else f["fy"]
    centre_index = index[cy, cx]
    along0 = along[cy, cx]
    length = rng.uniform(4, 9) * pitch
    segment = np.abs(along - along0) < length / 2
    own = index == centre_index
    if kind == "missing_yarn":
        region = own & segment
        web.image[region] = BACKING + 0.05 * _profile(frac[region], 0.0)
    elif kind == "broken_yarn":
        # the broken end floats on top and is pulled slightly crooked
        region = own & segment & (along > along0 - length / 2)
        shade = (f["warp_shade"] if vertical else f["weft_shade"])[centre_index]
        web.image[region] = shade * 1.1 * _profile(frac[region], 0.05)
        end = own & (np.abs(along - (along0 - length / 2)) < pitch)
        web.image[end] = BACKING
        region = region | end
    elif kind == "double_yarn":
        # a doubled yarn: thicker (spills into both neighbours) and always on top
        across = f["u"] if vertical else f["v"]
        centre_across = across[cy, cx]
        region = segment & (np.abs(across - centre_across) < 0.9 * pitch)
        t = (across[region] - centre_across) / (0.9 * pitch)            # -1 .. 1
        shade = (f["warp_shade"] if vertical else f["weft_shade"])[centre_index]
        web.image[region] = shade * 1.05 * np.sqrt(np.abs(np.sin(np.pi * (t + 1))))
    elif kind == "knot":
        ry, rx = rng.uniform(0.8, 1.5, 2) * pitch
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:height, 0:width]
        a, b = (yy - cy) * np.cos(angle) + (xx - cx) * np.sin(angle), \
            -(yy - cy) * np.sin(angle) + (xx - cx) * np.cos(angle)
        r = (a / ry) ** 2 + (b / rx) ** 2
        region = r < 1
        web.image[region] = np.clip(0.95 - 0.25 * r[region] + 0.05 * rng.standard_normal(region.sum()), 0, 1)
    elif kind == "hole":
        radius = rng.uniform(1.2, 2.5) * pitch
        yy, xx = np.mgrid[0:height, 0:width]
        angle = np.arctan2(yy - cy, xx - cx)
        wobble = 1 + 0.25 * np.sin(3 * angle + rng.uniform(0, 6)) + 0.1 * np.sin(7 * angle)
        region = np.hypot(yy - cy, xx - cx) < radius * wobble
        web.image[region] = BACKING * 0.5
        # frayed rim: the cut yarn ends around the hole are darker
        rim = ndimage.binary_dilation(region, iterations=2) & ~region
        web.image[rim] *= 0.6
        region = region | rim
    else:
        raise ValueError(f"unknown flaw {kind!r}; choose one of {FLAWS}")
    web.mask |= region
    web.labels[region] = len(web.flaws) + 1
    web.flaws.append((kind, (cy, cx)))


# --------------------------------------------------------------------------- patch sets

@dataclass
class PatchSets:
    """T, V and D patches of one pattern, (N, 1, s, s) float32 in [0, 1], and provenance."""

    name: str
    train: np.ndarray            # T: defect-free, used for training
    valid: np.ndarray            # V: defect-free, another region, never trained on
    defect: np.ndarray           # D: patches overlapping a flaw
    defect_masks: np.ndarray     # (N_D, s, s) bool, the flaw pixels in each D patch
    select: np.ndarray           # D_sel: defect patches from *other* flaws, for the λ search
    defect_kinds: list[str] = field(default_factory=list)   # flaw kind of each D patch
    examples: dict = field(default_factory=dict)   # images for figures: {"web": .., "mask": ..}
    source: str = ""


def random_patches(image: np.ndarray, size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random ``size``² patches of a (H, W) image → (n, size, size)."""
    height, width = image.shape
    if height < size or width < size:
        raise PatchSetError(f"an image of {height}×{width} is smaller than the patch size {size}")
    ys = rng.integers(0, height - size + 1, n)
    xs = rng.integers(0, width - size + 1, n)
    return np.stack([image[y:y + size, x:x + size] for y, x in zip(ys, xs)]) if n else \
        np.zeros((0, size, size), image.dtype)


def patches_around(image: np.ndarray, mask: np.ndarray, size: int, n: int,
                   rng: np.random.Generator, min_pixels: int = 1, label: str = "image",
                   positions: list | None = None, labels: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` patches placed at random around flaw pixels, each overlapping the mask.

    A patch is centred on a random flaw pixel plus a uniform offset of up to a third of the
    patch (so flaws sit anywhere in the patch, as the paper's "randomly distributed patches
    containing those defect patterns"); it is kept when at least ``min_pixels`` of its
    pixels are flaw pixels. The top-left corner of every kept patch is appended to
    ``positions`` when a list is given. With ``labels`` (an int map, k > 0 inside flaw k),
    each patch first draws one flaw uniformly, so large flaws do not dominate D.
    """
    height, width = image.shape
    if image.shape != mask.shape:
        raise PatchSetError(f"{label}: mask {mask.shape} differs from image {image.shape}")
    if height < size or width < size:
        raise PatchSetError(f"{label}: {height}×{width} is smaller than the patch size {size}")
    if labels is not None:
        groups = [np.nonzero(mask & (labels == k)) for k in np.unique(labels[mask])]
    else:
        groups = [np.nonzero(mask)]
    groups = [g for g in groups if len(g[0])]
    out, out_masks = [], []
    if groups and n:
        for _ in range(4 * n):
            ys, xs = groups[int(rng.integers(len(groups)))]
            k = int(rng.integers(len(ys)))
            oy, ox = rng.integers(-size // 3, size // 3 + 1, 2)
            y = int(np.clip(ys[k] + oy - size // 2, 0, height - size))
            x = int(np.clip(xs[k] + ox - size // 2, 0, width - size))
            window = mask[y:y + size, x:x + size]
            if window.sum() >= min_pixels:
                out.append(image[y:y + size, x:x + size])
                out_masks.append(window)
                if positions is not None:
                    positions.append((y, x))
            if len(out) == n:
                break
    if not out:
        return np.zeros((0, size, size), np.float32), np.zeros((0, size, size), bool)
    return np.stack(out).astype(np.float32), np.stack(out_masks)


def _check_defect_count(name: str, defect: np.ndarray, candidates: int, what: str) -> None:
    if len(defect) == 0:
        raise PatchSetError(
            f"{name}: the defect set {what} is empty (0 of {candidates} flaw(s) gave a patch "
            f"overlapping a mask); add flaws/defective images or lower min_defect_pixels")


def textile_patch_sets(pattern: str, patch_size: int = 64, n_train: int = 1000,
                       n_valid: int = 300, n_defect: int = 300, n_select: int = 60,
                       web_size: int = 384, n_flaws: int = 10, pitch: float = 8.0,
                       min_defect_pixels: int = 16, seed: int = 0) -> PatchSets:
    """T, V, D (and D_sel for the λ search) of one embedded pattern.

    One web per role, all from the same weave with the same parameters but different
    random yarns and swirls (a web is a different stretch of the same fabric): the training
    web gives T, the validation web V, a web with ``n_flaws`` flaws D, and a second flawed
    web D_sel (flaws never seen in D). ``brick`` is the real texture of
    :mod:`adlib.data.textures` at its native 512²: T and V from the two halves of its top
    half, flaws (scratch, stain, smear) added to copies of the bottom quarters; ``web_size``
    and ``pitch`` apply to the weaves only.
    """
    if pattern not in PATTERNS:
        raise ValueError(f"unknown pattern {pattern!r}; choose one of {PATTERNS}")
    rng = np.random.default_rng(seed + 1)
    if pattern in WEAVES:
        base = 10 * seed + 100_000 * list(WEAVES).index(pattern)    # other yarns per pattern
        train_web = weave(pattern, web_size, pitch=pitch, seed=base + 1).image
        valid_web = weave(pattern, web_size, pitch=pitch, seed=base + 2).image
        defect_web = weave(pattern, web_size, pitch=pitch, flaws=n_flaws, seed=base + 3)
        select_web = weave(pattern, web_size, pitch=pitch, flaws=max(n_flaws // 2, 1),
                           seed=base + 4)
        d_images, d_masks = [defect_web.image], [defect_web.mask]
        s_images, s_masks = [select_web.image], [select_web.mask]
        d_kind_of = [defect_web.kind_at]
        d_labels, s_labels = [defect_web.labels], [select_web.labels]
        example = (defect_web.image, defect_web.mask)
    else:
        image = textures.load_texture(pattern, REAL_SIZE)       # skimage's native 512²
        half = REAL_SIZE // 2
        top, bottom = image[:half], image[half:]
        train_web, valid_web = top[:, :half], top[:, half:]
        d_images, d_masks, s_images, s_masks, d_kind_of = [], [], [], [], []
        for k in range(max(n_flaws, 1)):
            kind = textures.DEFECTS[k % len(textures.DEFECTS)]
            region = bottom[:, :half] if k % 2 == 0 else bottom[:, half:]
            img, mask = textures.add_defect(region, kind, rng)
            to_select = k % 4 == 3            # every fourth flaw (all kinds in turn) for D_sel
            (s_images if to_select else d_images).append(img)
            (s_masks if to_select else d_masks).append(mask)
            if not to_select:
                d_kind_of.append(lambda y, x, size, kind=kind: kind)
        if not s_images:                      # fewer than four flaws: D_sel reuses D's images
            s_images, s_masks = d_images, d_masks
        if not d_images:                      # (cannot happen with n_flaws >= 1; kept for safety)
            d_images, d_masks = s_images, s_masks
            d_kind_of = [lambda y, x, size: "unknown"] * len(s_images)
        example = (d_images[0], d_masks[0])
    train = random_patches(train_web, patch_size, n_train, rng)
    valid = random_patches(valid_web, patch_size, n_valid, rng)

    def around(images, masks, n, kind_of=None, labels=None):
        per = -(-n // len(images))
        parts, kinds = [], []
        for k, (img, m) in enumerate(zip(images, masks)):
            where: list = []
            parts.append(patches_around(img, m, patch_size, per, rng, min_defect_pixels, pattern, where,
                                        None if labels is None else labels[k]))
            if kind_of is not None:
                kinds += [kind_of[k](y, x, patch_size) for y, x in where]
        return (np.concatenate([p[0] for p in parts])[:n], np.concatenate([p[1] for p in parts])[:n],
                kinds[:n])

    if pattern not in WEAVES:
        d_labels = s_labels = None
    defect, defect_masks, defect_kinds = around(d_images, d_masks, n_defect, d_kind_of, d_labels)
    select, _, _ = around(s_images, s_masks, n_select, None, s_labels)
    _check_defect_count(pattern, defect, len(d_images) * (n_flaws if pattern in WEAVES else 1), "D")
    _check_defect_count(pattern, select, len(s_images), "D_sel")
    return PatchSets(pattern, train[:, None].astype(np.float32), valid[:, None].astype(np.float32),
                     defect[:, None], defect_masks, select[:, None], defect_kinds,
                     {"web": example[0], "mask": example[1], "clean": train_web},
                     source=(f"adlib.data.textile.weave({pattern!r})" if pattern in WEAVES
                             else f"skimage.data.{pattern} + adlib.data.textures.add_defect"))


def _read_native(path: Path, patch_size: int, scale: float) -> np.ndarray:
    """A grey image (H, W) in [0, 1], rescaled by ``scale``; fails if smaller than a patch."""
    with Image.open(path) as img:
        w, h = img.size
    if min(w, h) * scale < patch_size:
        raise PatchSetError(
            f"image {path} is {w}×{h} pixels"
            + (f" ({round(w * scale)}×{round(h * scale)} after scaling by {scale})" if scale != 1 else "")
            + f", smaller than the patch size {patch_size}; remove it, or lower patch_size"
            + (" or raise real_scale" if scale != 1 else ""))
    image = folders.read_image(path, None, grey=True)[0]
    if scale != 1:
        size = (max(int(round(w * scale)), 1), max(int(round(h * scale)), 1))
        image = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR), np.float32)
    return image


def _read_mask(path: Path, image_path: Path, shape: tuple[int, int], scale: float) -> np.ndarray:
    with Image.open(image_path) as img:
        w, h = img.size
    with Image.open(path) as m:
        if m.size != (w, h):
            raise PatchSetError(f"mask {path} is {m.size[0]}×{m.size[1]} but its image "
                                f"{image_path} is {w}×{h}; masks must have their image's size")
        m = m.convert("L")
        if scale != 1:
            m = m.resize((shape[1], shape[0]), Image.NEAREST)
        return np.asarray(m) > 127      # masks are 0/255: mid-grey splits them, as adlib.data.folders does


def mvtec_patch_sets(folder: str | Path, patch_size: int = 64, n_train: int = 1000,
                     n_valid: int = 300, n_defect: int = 300, n_select: int = 60,
                     scale: float = 1.0, max_images: int = 200, min_defect_pixels: int = 16,
                     seed: int = 0) -> PatchSets:
    """T, V, D, D_sel from an MVTec-layout category: T from train/good, V from test/good,
    D from patches overlapping a ground-truth mask of test/<defect> (every other defective
    image; the rest give D_sel for the λ search). Images are read at native size times
    ``scale``; one smaller than the patch, or a mask of another size, fails naming the file.
    """
    folder = Path(folder)
    if not folders.is_mvtec_category(folder):
        raise folders.DataLayoutError(f"{folder} is not an MVTec-layout category; expected "
                                      f"{folders.MVTEC_LAYOUT}")
    rng = np.random.default_rng(seed)

    def listing(sub: Path) -> list[Path]:
        paths = folders.images_in(sub) if sub.is_dir() else []
        if len(paths) > max_images:
            paths = [paths[i] for i in np.linspace(0, len(paths) - 1, max_images).round().astype(int)]
        return paths

    def spread(paths: list[Path], n: int, what: str) -> np.ndarray:
        if not paths:
            raise PatchSetError(f"{folder}: no images for {what}; expected {folders.MVTEC_LAYOUT}")
        per = -(-n // len(paths))
        out = [random_patches(_read_native(p, patch_size, scale), patch_size, per, rng) for p in paths]
        return np.concatenate(out)[:n]

    train = spread(listing(folder / "train" / "good"), n_train, "T (train/good)")
    valid = spread(listing(folder / "test" / "good"), n_valid, "V (test/good)")
    defective = []
    for type_dir in (p for p in folders.subfolders(folder / "test") if p.name != "good"):
        for path in listing(type_dir):
            mask_path = folder / "ground_truth" / type_dir.name / f"{path.stem}_mask.png"
            if not mask_path.exists():
                raise folders.DataLayoutError(f"no mask for defective image {path}: expected {mask_path}")
            defective.append((path, mask_path))
    d_parts, s_parts, kinds = [], [], []
    per_d = -(-n_defect // max(len(defective[0::2]), 1))
    per_s = -(-n_select // max(len(defective[1::2]), 1))
    for k, (path, mask_path) in enumerate(defective):
        image = _read_native(path, patch_size, scale)
        mask = _read_mask(mask_path, path, image.shape, scale)
        patches, masks = patches_around(image, mask, patch_size, per_d if k % 2 == 0 else per_s,
                                        rng, min_defect_pixels, str(path))
        (d_parts if k % 2 == 0 else s_parts).append((patches, masks))
        if k % 2 == 0:
            kinds += [path.parent.name] * len(patches)
    empty = (np.zeros((0, patch_size, patch_size), np.float32), np.zeros((0, patch_size, patch_size), bool))
    defect = np.concatenate([p for p, _ in d_parts] or [empty[0]])[:n_defect]
    masks = np.concatenate([m for _, m in d_parts] or [empty[1]])[:n_defect]
    select = np.concatenate([p for p, _ in s_parts] or [empty[0]])[:n_select]
    _check_defect_count(folder.name, defect, len(defective[0::2]), "D")
    if len(select) == 0:            # a single defective image: the λ search reuses D
        select = defect
    examples = {}
    if defective:
        img = _read_native(defective[0][0], patch_size, scale)
        examples = {"web": img, "mask": _read_mask(defective[0][1], defective[0][0], img.shape, scale)}
    return PatchSets(folder.name, train[:, None].astype(np.float32), valid[:, None].astype(np.float32),
                     defect[:, None], masks, select[:, None], kinds[:n_defect], examples,
                     source=str(folder))
