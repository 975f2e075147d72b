"""Training precision: float32, or bfloat16 autocast with channels-last memory where that is faster.

    training.fit(model, data, ..., precision="auto")     # or "fp32", "bf16"

``bf16`` runs the models' forward passes (and so their backward passes) under
``torch.autocast(dtype=torch.bfloat16)`` with channels-last weights and inputs; parameters,
optimiser state and losses stay float32. ``auto`` chooses ``bf16`` only where it was measured
faster: on a device with native bfloat16 arithmetic (a GPU that supports it; a CPU with AVX-512
BF16 or AMX) and for a training step of at least :data:`BF16_MIN_GFLOP` GFLOP (the first step
runs in float32 under :class:`torch.utils.flop_counter.FlopCounterMode`, which counts it).
Smaller steps gain little and their models' health suffered (see :data:`BF16_MIN_GFLOP`;
``make speed`` measures both modes for every detector at the quick and the paper sizes).
A model whose loss suffers in bfloat16 sets ``bf16_safe = False``; ``auto`` then keeps fp32.

Scores and maps are always computed in float32: a bfloat16-trained model is scored exactly as
a float32 one, and ``tests/test_precision.py`` checks that the two rank test images alike.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
# GFLOP per float32 training step from which bfloat16 autocast is used. CPU, measured (make speed,
# 2-core AVX-512-BF16 CPU, torch 2.14.1): 1.4-3.9x faster at the paper's sizes (10-1700 GFLOP);
# 1.0-1.6x at the quick profile's (0.07-1.7 GFLOP), but with the threshold at 0.5 the quick
# benchmark ran only 4 % faster (238 -> 228 s) and 3 of its 21 models lost their health
# (Schneider's AAE on brick diverged, Zhu's two-stage on brick and ELPV), so the quick sizes stay
# float32. CUDA: not yet measured (no GPU in the sessions so far): only clearly compute-bound steps.
BF16_MIN_GFLOP = {"cpu": 2.0, "cuda": 2.0}


def check(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not one of {PRECISIONS}")
    return precision


@functools.cache
def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:                        # not Linux: no way to tell, stay in float32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def bf16_native(device: torch.device | str) -> bool:
    """Does ``device`` compute in bfloat16 natively (not emulated)?"""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device.type == "cpu" and _cpu_has_bf16()


def choose(model: torch.nn.Module, step_gflop: float, device: torch.device | str) -> str:
    """``auto``'s choice for a model whose float32 training step (forward, backward and
    update, counted by ``training.fit`` on its first step) costs ``step_gflop`` GFLOP."""
    device = torch.device(device)
    if not getattr(model, "bf16_safe", True) or not bf16_native(device):
        return "fp32"
    return "bf16" if step_gflop >= BF16_MIN_GFLOP.get(device.type, float("inf")) else "fp32"


def autocast(device: torch.device | str, precision: str):
    """The context a model's forward pass runs in: bfloat16 autocast for ``bf16``, else nothing."""
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(precision: str) -> torch.memory_format:
    """Channels-last goes with bfloat16 (oneDNN's and cuDNN's fast convolution layout)."""
    return torch.channels_last if precision == "bf16" else torch.contiguous_format
