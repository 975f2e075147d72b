"""ipywidgets that keep working in the static site.

A slider over *precomputed* frames: every frame is rendered while the notebook executes,
the frames sit in a ``Stack`` and the slider's index is linked to the stack on the client
side (``jslink``), so the rendered HTML page switches frames without a kernel. The saved
widget state starts at the default frame, which is what a reader sees first.

Every frame is stored in the page (base64), so frames are JPEG at the size they are shown:
the figure's own size at ``savefig.dpi``, never upscaled, scaled down to the book's content
column when wider (the page would shrink it anyway). A PNG frame weighs about three to eight
times as much.
"""

from __future__ import annotations

import io
from typing import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from PIL import Image

from adlib.runtime import timed

COLUMN_PX = 688         # width of the book's content column (sphinx-book-theme, desktop)
JPEG_QUALITY = 85


def figure_jpeg(fig, max_width: int = COLUMN_PX, quality: int = JPEG_QUALITY, close: bool = True) -> bytes:
    """``fig`` as JPEG bytes on white, at most ``max_width`` pixels wide (never enlarged)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    if close:
        plt.close(fig)
    image = Image.open(buffer).convert("RGBA")
    image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image).convert("RGB")
    if image.width > max_width:
        image = image.resize((max_width, round(image.height * max_width / image.width)), Image.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


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
    frames = []
    with timed("figures and widgets"):
        for value in values:
            fig, caption = render(value)
            frames.append(widgets.VBox([widgets.Image(value=figure_jpeg(fig), format="jpeg"),
                                        widgets.HTML(caption)]))
    slider = widgets.SelectionSlider(options=labels, index=default_index, description=description,
                                     continuous_update=True,
                                     layout=widgets.Layout(width="min(640px, 95%)"),
                                     style={"description_width": "initial"})
    stack = widgets.Stack(frames, selected_index=default_index)
    widgets.jslink((slider, "index"), (stack, "selected_index"))
    return widgets.VBox([slider, stack])
