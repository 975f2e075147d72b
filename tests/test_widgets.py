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


def test_equal_pictures_are_stored_once_and_each_frame_keeps_its_caption(monkeypatch):
    made = []

    class CountedImage(widgets.widgets.Image):       # every widget made is saved in the page, shown or not
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            made.append(self)
    monkeypatch.setattr(widgets.widgets, "Image", CountedImage)
    same = lambda value: (_flat_figure(), f"t = {value}")      # noqa: E731  (no mask above every residual)
    box = widgets.precomputed_slider("t", [1, 2, 3], lambda v: _render(v) if v == 1 else same(v))
    images, captions = _frame_images(box), [f.children[1].value for f in box.children[1].children]
    assert images[1] is images[2] and images[0] is not images[1] and len(made) == 2
    assert captions == ["t = 1", "t = 2", "t = 3"]


def _frame_images(box):
    _, stack = box.children
    return [frame.children[0] for frame in stack.children]


def _busy_figure(width_inches):
    """A frame like the chapters': a row of image panels (maps, photographs) with titles."""
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 4, figsize=(width_inches, width_inches / 4))
    for k, ax in enumerate(axes):
        ax.imshow(ndimage.gaussian_filter(rng.random((96, 96)), 1 + k), cmap="inferno")
        ax.set(title=f"panel {k}", xticks=[], yticks=[])
    return fig


def _flat_figure():
    """Flat graphics: a chessboard, which PNG stores smaller than WebP."""
    fig, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(np.indices((8, 8)).sum(axis=0) % 2, cmap="gray", interpolation="nearest")
    ax.axis("off")
    return fig


def _size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_every_frame_is_kept_in_the_format_it_declares():
    box = widgets.precomputed_slider("w", [3, 4, 5, 6], lambda w: (_busy_figure(w), f"w = {w}"))
    images = _frame_images(box)
    assert len(images) == 4 and {i.format for i in images} == {"webp"}
    assert all(i.value[:4] == b"RIFF" and i.value[8:12] == b"WEBP" for i in images)


def test_an_image_frame_is_webp_lighter_than_its_png_and_kept_at_its_size():
    png = plots.figure_png(_busy_figure(6))
    value, format_ = widgets.encode_figure(_busy_figure(6))
    assert format_ == "webp" and value[:4] == b"RIFF"
    assert len(value) < len(png) / 2, (len(value), len(png))
    assert _size(value) == _size(png)                       # not rescaled


def test_flat_graphics_stay_png_where_that_is_smaller():
    value, format_ = widgets.encode_figure(_flat_figure())
    assert format_ == "png" and value[:4] == b"\x89PNG"
    image = Image.open(io.BytesIO(value)).convert("RGB")
    webp = io.BytesIO()
    image.save(webp, format="WEBP", quality=widgets.LOSSY_QUALITY, method=6)
    assert len(value) < webp.tell()


def test_a_frame_wider_than_the_column_is_scaled_down_never_up():
    assert _size(widgets.encode_figure(_busy_figure(12))[0])[0] == widgets.COLUMN_PX
    small = _size(widgets.encode_figure(_busy_figure(2))[0])
    assert small == _size(plots.figure_png(_busy_figure(2))) and small[0] < widgets.COLUMN_PX


def test_a_transparent_figure_is_put_on_white():
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.axis("off")
    fig.patch.set_alpha(0)
    image = widgets.image_widget(fig)
    pixel = Image.open(io.BytesIO(image.value)).convert("RGB").getpixel((2, 2))
    assert min(pixel) > 245, pixel
