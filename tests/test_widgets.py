"""adlib.widgets: a slider over precomputed frames."""

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from adlib import plots, widgets


def _render(value):
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.set_title(str(value))
    return fig, f"t = {value}"


def test_slider_labels_each_frame():
    box = widgets.precomputed_slider("t", [1e-5, 2e-5, 4e-5], _render, default_index=1)
    slider, stack = box.children
    assert slider.options == ("1e-05", "2e-05", "4e-05") and stack.selected_index == 1


def test_labels_that_collide_fail_before_rendering():
    rendered = []
    with pytest.raises(ValueError, match="equal labels"):
        widgets.precomputed_slider("t", [1e-5, 2e-5], lambda v: rendered.append(v), fmt="{:.4f}")
    assert rendered == []


def _frame_images(box):
    _, stack = box.children
    return [frame.children[0] for frame in stack.children]


def test_every_frame_is_kept_as_jpeg():
    box = widgets.precomputed_slider("t", [1, 2, 3, 4], _render)
    images = _frame_images(box)
    assert len(images) == 4
    assert all(i.format == "jpeg" and i.value[:3] == b"\xff\xd8\xff" for i in images)


def _busy_figure(width_inches):
    """A frame like the chapters': a row of image panels with titles."""
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 4, figsize=(width_inches, width_inches / 4))
    for k, ax in enumerate(axes):
        ax.imshow(ndimage.gaussian_filter(rng.random((96, 96)), 1 + k), cmap="inferno")
        ax.set(title=f"panel {k}", xticks=[], yticks=[])
    return fig


def test_a_frame_is_lighter_than_its_png_and_kept_at_its_size():
    png = plots.figure_png(_busy_figure(6))
    jpeg = widgets.figure_jpeg(_busy_figure(6))
    assert len(jpeg) < len(png) / 2, (len(jpeg), len(png))
    assert Image.open(io.BytesIO(jpeg)).size == Image.open(io.BytesIO(png)).size    # not rescaled


def test_a_frame_wider_than_the_column_is_scaled_down_never_up():
    wide = Image.open(io.BytesIO(widgets.figure_jpeg(_busy_figure(12))))
    assert wide.width == widgets.COLUMN_PX
    small = Image.open(io.BytesIO(widgets.figure_jpeg(_busy_figure(2))))
    assert small.width == Image.open(io.BytesIO(plots.figure_png(_busy_figure(2)))).width < widgets.COLUMN_PX


def test_a_transparent_figure_is_put_on_white():
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.axis("off")
    fig.patch.set_alpha(0)
    pixel = Image.open(io.BytesIO(widgets.figure_jpeg(fig))).getpixel((2, 2))
    assert min(pixel) > 245, pixel
