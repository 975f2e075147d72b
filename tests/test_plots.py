"""The shared figure helpers of adlib.plots."""

import numpy as np

from adlib import plots


def test_a_mask_overlay_is_an_outline_that_leaves_the_flaw_visible():
    image = np.full((1, 64, 64), 0.5, np.float32)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 20:40] = True
    rgb = plots.overlay(image, mask)
    red = (rgb[..., 0] > 0.7) & (rgb[..., 1] < 0.3)
    assert red[20, 30] and red[39, 30] and not red[30, 30]          # the border, not the inside
    assert np.allclose(rgb[30, 30], 0.5) and not red[~mask].any()
