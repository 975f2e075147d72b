"""Patches: random training crops and whole-image maps assembled from overlapping tiles.

Models with a linear bottleneck see fixed-size patches; these helpers turn a few large
images into training minibatches and per-patch residuals back into a per-pixel map.
Built on torch's ``unfold`` / ``fold``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def random_crops(images: torch.Tensor, size: int,
                 step: int = 1) -> Callable[[torch.Generator, int], torch.Tensor]:
    """A batch source for :func:`adlib.training.fit`: random ``size``² crops of ``images``.

    Crops start at multiples of ``step`` pixels (1: anywhere), e.g. on the lattice of a
    periodic pattern so that training patches show it in a fixed set of phases.
    """
    n, _, height, width = images.shape
    if height < size or width < size:
        raise ValueError(f"images of {height}×{width} are smaller than the patch size {size}")
    if step < 1:
        raise ValueError(f"step={step} must be >= 1")
    offsets, channels = torch.arange(size), torch.arange(images.shape[1])

    def draw(generator: torch.Generator, batch: int) -> torch.Tensor:
        index = torch.randint(n, (batch,), generator=generator)
        ys = torch.randint((height - size) // step + 1, (batch,), generator=generator) * step
        xs = torch.randint((width - size) // step + 1, (batch,), generator=generator) * step
        # one gather for the whole batch: (B, 1, size, 1) rows and (B, 1, 1, size) columns
        rows = (ys[:, None] + offsets)[:, None, :, None]
        cols = (xs[:, None] + offsets)[:, None, None, :]
        return images[index[:, None, None, None], channels[None, :, None, None], rows, cols]
    return draw


def grid_patches(images: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """All ``size``² patches on a regular grid: (N, C, H, W) → (N·P, C, size, size)."""
    n, c, height, width = images.shape
    if (height - size) % stride or (width - size) % stride:
        raise ValueError(f"{height}×{width} images are not covered by {size}-pixel patches at "
                         f"stride {stride}; choose sizes with (side - patch) % stride == 0")
    cols = F.unfold(images, size, stride=stride)                    # (N, C·size², P)
    return cols.transpose(1, 2).reshape(-1, c, size, size)


def patch_grid_shape(height: int, width: int, size: int, stride: int) -> tuple[int, int]:
    return (height - size) // stride + 1, (width - size) // stride + 1


def assemble(patch_maps: torch.Tensor, image_shape: tuple[int, int], size: int,
             stride: int) -> torch.Tensor:
    """Average overlapping per-pixel patch maps (N·P, size, size) back into (N, H, W)."""
    height, width = image_shape
    rows, cols = patch_grid_shape(height, width, size, stride)
    per_image = rows * cols
    n = patch_maps.shape[0] // per_image
    columns = patch_maps.reshape(n, per_image, size * size).transpose(1, 2)
    summed = F.fold(columns, (height, width), size, stride=stride)
    counts = F.fold(torch.ones_like(columns), (height, width), size, stride=stride)
    return (summed / counts)[:, 0]


def image_anomaly_maps(model, images: torch.Tensor, size: int, stride: int,
                       batch_size: int = 256) -> torch.Tensor:
    """Per-pixel anomaly maps of whole images from a patch model (overlaps averaged)."""
    patches = grid_patches(images, size, stride)
    return assemble(model.anomaly_map(patches, batch_size), images.shape[2:], size, stride)


def reconstruct_images(model, images: torch.Tensor, size: int, batch_size: int = 256) -> torch.Tensor:
    """Whole-image reconstructions from a patch model, tile by tile (no overlap)."""
    n, c, height, width = images.shape
    recon = model.reconstruct(grid_patches(images, size, size), batch_size)   # (N·P, C, s, s)
    per_image = (height // size) * (width // size)
    columns = recon.reshape(n, per_image, c * size * size).transpose(1, 2)
    return F.fold(columns, (height, width), size, stride=size)


def resize(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (N, C, H, W), antialiased when shrinking; unchanged if already that size."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(images.shape[-2:]) == size:
        return images
    shrink = size[0] < images.shape[-2] or size[1] < images.shape[-1]
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def pad_to_grid(images: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """Pad (N, C, H, W) at the bottom and right, mirroring the border, so that ``size``-pixel
    patches every ``stride`` pixels cover the image exactly (at least one patch each way).
    Crop maps of the padded image back with ``[..., :H, :W]``."""
    height, width = images.shape[-2:]

    def extra(side: int) -> int:
        side_padded = max(side, size)
        return side_padded - side + (-(side_padded - size)) % stride

    pad_h, pad_w = extra(height), extra(width)
    if not pad_h and not pad_w:
        return images
    # reflection needs the pad to be smaller than the side; replicate beyond that
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode)
