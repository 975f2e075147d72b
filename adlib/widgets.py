"""ipywidgets that keep working in the static site.

A slider over *precomputed* frames: every frame is rendered while the notebook executes,
the frames sit in a ``Stack`` and the slider's index is linked to the stack on the client
side (``jslink``), so the rendered HTML page switches frames without a kernel. The saved
widget state starts at the default frame, which is what a reader sees first.
"""

from __future__ import annotations

from typing import Callable, Sequence

import ipywidgets as widgets

from adlib.plots import figure_png
from adlib.runtime import timed


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
            frames.append(widgets.VBox([widgets.Image(value=figure_png(fig), format="png"),
                                        widgets.HTML(caption)]))
    slider = widgets.SelectionSlider(options=labels, index=default_index, description=description,
                                     continuous_update=True,
                                     layout=widgets.Layout(width="min(640px, 95%)"),
                                     style={"description_width": "initial"})
    stack = widgets.Stack(frames, selected_index=default_index)
    widgets.jslink((slider, "index"), (stack, "selected_index"))
    return widgets.VBox([slider, stack])
