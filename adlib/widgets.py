"""ipywidgets that keep working in the static site.

A slider over *precomputed* frames: every frame is rendered while the notebook executes,
the frames sit in a ``Stack`` and the slider's index is linked to the stack on the client
side (``jslink``), so the rendered HTML page switches frames without a kernel. The saved
widget state starts at the default frame, which is what a reader sees first.

Every frame is stored in the page (base64), so frames are stored at the size they are shown
(the figure's own size at ``savefig.dpi``, never enlarged, scaled down to the book's content
column when wider: the page would shrink it anyway) and as WebP, a fifth to a tenth of the
PNG for images and maps. Flat graphics (a chessboard, a few solid colours) stay PNG where
that is the smaller file, as it is lossless too. :func:`image_widget` does the same for a
single figure shown as a widget.
"""

from __future__ import annotations

import io
from typing import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from PIL import Image

from adlib.runtime import timed

COLUMN_PX = 688         # width of the book's content column (sphinx-book-theme, desktop)
LOSSY_QUALITY = 80      # WebP: a third smaller than JPEG 85 at the same look (Schneider's frames)


def encode_figure(fig, max_width: int = COLUMN_PX, quality: int = LOSSY_QUALITY,
                  close: bool = True) -> tuple[bytes, str]:
    """``fig`` on white, at most ``max_width`` pixels wide (never enlarged), as (bytes, format):
    WebP at ``quality``, or PNG where the PNG is smaller."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    if close:
        plt.close(fig)
    image = Image.open(buffer).convert("RGBA")
    image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image).convert("RGB")
    if image.width > max_width:
        image = image.resize((max_width, round(image.height * max_width / image.width)), Image.LANCZOS)
    lossy, png = io.BytesIO(), io.BytesIO()
    image.save(lossy, format="WEBP", quality=quality, method=6)
    image.save(png, format="PNG", optimize=True)
    return (png.getvalue(), "png") if png.tell() < lossy.tell() else (lossy.getvalue(), "webp")


def image_widget(fig, **options) -> widgets.Image:
    """A matplotlib figure as a light ``ipywidgets.Image`` (see :func:`encode_figure`)."""
    value, format_ = encode_figure(fig, **options)
    return widgets.Image(value=value, format=format_)


def precomputed_slider(description: str, values: Sequence[float], render: Callable,
                       default_index: int = 0, fmt: str = "{:.3g}") -> widgets.VBox:
    """A slider over ``values``; ``render(value)`` returns (matplotlib figure, caption HTML)."""
    if not values:
        raise ValueError("precomputed_slider needs at least one value")
    if not 0 <= default_index < len(values):
        raise ValueError(f"default_index={default_index} outside 0..{len(values) - 1}")
    labels = [fmt.format(v) for v in values]
    if len(set(labels)) < len(labels):      # the slider could not tell such frames apart
        raise ValueError(f"precomputed_slider {description!r}: fmt={fmt!r} gives equal labels {labels}; "
                         f"use more significant digits (e.g. '{{:.3g}}')")
    frames, images = [], {}
    with timed("figures and widgets"):
        for value in values:
            fig, caption = render(value)
            value_, format_ = encode_figure(fig)
            # equal pictures (a threshold above every residual draws no mask) share one image
            # model: the page stores each picture once, and the caption still tells the frames apart
            # (only created when new: every widget made is saved in the page, used or not)
            if value_ not in images:
                images[value_] = widgets.Image(value=value_, format=format_)
            image = images[value_]
            frames.append(widgets.VBox([image, widgets.HTML(caption)]))
    slider = widgets.SelectionSlider(options=labels, index=default_index, description=description,
                                     continuous_update=True,
                                     layout=widgets.Layout(width="min(640px, 95%)"),
                                     style={"description_width": "initial"})
    stack = widgets.Stack(frames, selected_index=default_index)
    widgets.jslink((slider, "index"), (stack, "selected_index"))
    return widgets.VBox([slider, stack])
