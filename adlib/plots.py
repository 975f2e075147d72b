"""One plotting style for the whole book, and the figure helpers the chapters share."""

from __future__ import annotations

import io
import textwrap
from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

PALETTE = "colorblind"
MASK_COLOUR = (0.85, 0.1, 0.1)
# the book's content column is 688 px at 100 dpi: a wider figure is scaled down, its 9-pt text with it
COLUMN_INCHES = 6.8


def use_style() -> None:
    """The study's style: seaborn 'whitegrid', colour-blind palette, readable sizes."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    # no text below 9 pt: figures are shown at most 688 px wide, often less on a phone
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "figure.autolayout": False,
                                "axes.titlesize": 11, "image.cmap": "gray", "font.size": 10,
                                "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
                                "legend.fontsize": 9, "legend.title_fontsize": 9})


def columns_for(n_panels: int, panel_width: float) -> int:
    """How many panels ``panel_width`` inches wide fit side by side in the column (1 to n_panels)."""
    return max(1, min(n_panels, int(COLUMN_INCHES // panel_width)))


def panel_grid(n_panels: int, panel_width: float, panel_height: float, **subplots_options):
    """A figure of ``n_panels`` axes wrapped into as many rows as the column needs, and the axes
    in reading order (the unused cells of the last row are hidden)."""
    n_panels = max(n_panels, 1)
    n_cols = columns_for(n_panels, panel_width)
    n_rows = -(-n_panels // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(panel_width * n_cols, panel_height * n_rows),
                             squeeze=False, **subplots_options)
    for ax in axes.flat[n_panels:]:
        ax.axis("off")
    return fig, list(axes.flat[:n_panels])


def wrap(text: str, inches: float, points: float = 10) -> str:
    """``text`` broken into lines of at most about ``inches`` at ``points`` (a character of the
    default font is at most about 0.6 em wide on average)."""
    width = max(6, int(inches * 72 / (0.6 * points)))
    return "\n".join(textwrap.fill(line, width, break_long_words=False) for line in text.split("\n"))


def _points(size) -> float:
    """A font size from rcParams ('large', 11, ...) in points."""
    return matplotlib.font_manager.FontProperties(size=size).get_size_in_points()


def as_image(array) -> np.ndarray:
    """(C, H, W) or (H, W) tensor/array → (H, W) or (H, W, 3) numpy for imshow."""
    array = np.asarray(array.detach().cpu() if hasattr(array, "detach") else array)
    if array.ndim == 3 and array.shape[-1] not in (3, 4):      # channels first
        array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    return array


def overlay(image, mask, alpha: float = 0.9, width: int | None = None) -> np.ndarray:
    """A grey image with ``mask``'s border drawn in red (true or predicted defect regions): an
    outline, so the flaw under it stays visible. ``width`` in pixels, by default about 1/128 of
    the image (at least 1)."""
    from scipy.ndimage import binary_erosion

    grey = as_image(image)
    rgb = np.repeat(grey[..., None], 3, axis=2) if grey.ndim == 2 else grey.copy()
    mask = np.asarray(mask, bool)
    width = width or max(1, round(min(mask.shape) / 128))
    border = mask & ~binary_erosion(mask, iterations=width, border_value=0)
    rgb[border] = (1 - alpha) * rgb[border] + alpha * np.array(MASK_COLOUR)
    return np.clip(rgb, 0, 1)


def outline(ax, mask, colour=MASK_COLOUR, width: float = 1.2) -> None:
    """Draw ``mask``'s border on ``ax`` (a line, so the defect under it stays visible)."""
    mask = np.asarray(mask, float)
    if mask.any():
        ax.contour(mask, levels=[0.5], colors=[colour], linewidths=width)


def samples_figure(title: str, normal: Sequence, defective: Sequence, masks: Sequence | None = None,
                   cell: float = 1.3, labels: tuple[str, str] = ("normal", "defective")):
    """One row of a dataset's images: normal ones, then defective ones with their masks outlined
    (``labels``: the titles of the two kinds)."""
    images = list(normal) + list(defective)
    cell = min(cell, COLUMN_INCHES / len(images))
    title = wrap(title, cell * len(images), 10)
    fig, axes = plt.subplots(1, len(images), figsize=(cell * len(images), cell + 0.45 + 0.17 * title.count("\n")),
                             squeeze=False)
    for j, (ax, image) in enumerate(zip(axes[0], images)):
        ax.imshow(as_image(image), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
        defect = j >= len(normal)
        ax.set_title(labels[defect], fontsize=9, color=MASK_COLOUR if defect else "black")
        if defect and masks is not None:
            outline(ax, masks[j - len(normal)])
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def image_grid(rows: Sequence[Sequence], row_labels: Sequence[str] = (),
               col_labels: Sequence[str] = (), cell: float = 1.8, cmaps=None,
               vmax: Sequence[float | None] | None = None):
    """A grid of images without axes; ``cmaps``/``vmax`` optional per column."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    cell = min(cell, COLUMN_INCHES / n_cols)
    # labels wrapped to their cell, so that narrow cells' labels do not run into their neighbours
    title_points = _points(matplotlib.rcParams["axes.titlesize"])
    col_labels = [wrap(text, 0.95 * cell, title_points) for text in col_labels]
    row_labels = [wrap(text, 0.95 * cell, _points(matplotlib.rcParams["axes.labelsize"])) for text in row_labels]
    extra_title_lines = max([text.count("\n") for text in col_labels], default=0)
    fig, axes = plt.subplots(n_rows, n_cols, squeeze=False,
                             figsize=(cell * n_cols, cell * n_rows + extra_title_lines * 1.2 * title_points / 72))
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
            if j >= len(row) or row[j] is None:
                ax.axis("off")
                continue
            cmap = cmaps[j] if cmaps else "gray"
            top = vmax[j] if vmax else None
            image = as_image(row[j])
            ax.imshow(image, cmap=cmap, vmin=0 if image.ndim == 2 else None,
                      vmax=top if top is not None else (1 if cmap == "gray" else None))
            if i == 0 and j < len(col_labels):
                ax.set_title(col_labels[j])
            if j == 0 and i < len(row_labels):
                ax.set_ylabel(row_labels[i])
    fig.tight_layout()
    return fig


def figure_png(fig, close: bool = True) -> bytes:
    """A matplotlib figure as PNG bytes (for widget frames)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    if close:
        plt.close(fig)
    return buffer.getvalue()
