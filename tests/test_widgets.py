"""adlib.widgets: a slider over precomputed frames."""

import matplotlib.pyplot as plt
import pytest

from adlib import widgets


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
