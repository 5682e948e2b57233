"""Separators with known output, for tests of what surrounds the model."""

from __future__ import annotations

import torch

from model.separator import Separator


def constant_masks(sep: Separator, values: list[float]) -> Separator:
    """Make stem i's mask exactly ``values[i]`` on every bin: GLU value 2*v times sigmoid(0)."""
    heads = sep.model.heads
    with torch.no_grad():
        for w, b in zip(heads.w2, heads.b2, strict=True):
            w.zero_()
            bias = torch.zeros_like(b).unflatten(-1, (-1, 2, 2)).unflatten(0, (len(values), -1))
            for i, v in enumerate(values):
                bias[i, ..., 0, 0] = 2.0 * v
            b.copy_(bias.flatten(0, 1).flatten(-3))
    return sep


def known_separator(values: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)) -> Separator:
    """The tiny preset whose stems are ``values[i]`` times the delayed input."""
    return constant_masks(Separator.from_preset("tiny"), list(values))
