"""What every chapter notebook does first, in one call.

    _names_before = set(globals())          # first code cell
    ...parameters cell (papermill injects after it)...
    ch = chapter.setup("soukup_latent_vae", globals(), _names_before, {"iterations": params.integer(1)})
    ch.glue(iterations=iterations)          # glued as "sou_iterations"

``setup`` validates the parameters (unknown, missing or out-of-range names fail at once,
listing the valid ones), applies the plotting style, resolves the data folder and the
device, and opens the :class:`adlib.runtime.Run` that writes ``<chapter>.results.json``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import torch

from adlib import params, plots, runtime
from adlib.fingerprint import fingerprint


@dataclass
class Chapter:
    name: str
    params: dict[str, Any]
    data_root: str | None
    device: torch.device
    run: runtime.Run
    prefix: str

    def glue(self, **values: Any) -> None:
        """Glue each value for the text as ``<prefix>_<name>`` (myst-nb), without displaying it."""
        from matplotlib.figure import Figure
        from myst_nb import glue

        for key, value in values.items():
            with runtime.timed("figures and widgets") if isinstance(value, Figure) else contextlib.nullcontext():
                glue(f"{self.prefix}_{key}", value, display=False)     # a figure is rendered here


def setup(name: str, namespace: Mapping[str, Any], names_before: Iterable[str],
          specs: Mapping[str, params.Spec], prefix: str | None = None) -> Chapter:
    """Validate a chapter's parameters and open its run; ``prefix`` of glue keys defaults to the
    first three letters of ``name``."""
    values = params.check(namespace, names_before, specs)
    plots.use_style()
    data_root = params.resolve_data_root(values["data_root"], values["profile"])
    runtime.set_deterministic(values["deterministic"])      # before any CUDA work (cuBLAS reads its setting once)
    device = runtime.select_device(values["device"])
    run = runtime.Run(name, values, values["results_dir"], device)
    run.data_fingerprint = fingerprint(data_root)     # what was in the real-data folder, for provenance
    chapter = Chapter(name, values, data_root, device, run, prefix or name[:3])
    chapter.glue(device=str(device), profile=values["profile"])
    return chapter
