"""Causal STFT framing and overlap-add synthesis shared by streaming and offline paths.

Frame m covers samples ``[m*hop - P, m*hop - P + n_fft)`` of the signal, with
``P = n_fft - hop`` zeros before it, so frame m is complete once sample
``(m+1)*hop - 1`` has arrived, and after it the hop of output
``[m*hop - P, m*hop - P + hop)`` is final. Output therefore trails input by
``n_fft - 1`` samples at most: the stated latency.
"""

from __future__ import annotations

import torch
from torch import Tensor


def analysis_window(n_fft: int) -> Tensor:
    """Periodic Hann window."""
    return torch.hann_window(n_fft, periodic=True)


def synthesis_window(n_fft: int, hop: int) -> Tensor:
    """Window for overlap-add that makes analysis + synthesis the identity for any hop | n_fft."""
    win = analysis_window(n_fft)
    envelope = win.pow(2).reshape(-1, hop).sum(0)  # sum of squared shifted windows per phase
    return win / envelope.repeat(n_fft // hop)


def padded_length(n_samples: int, n_fft: int, hop: int) -> tuple[int, int]:
    """Frames that make every one of ``n_samples`` final, and the padded length they span."""
    n_frames = (n_samples - 1 + n_fft - hop) // hop + 1
    return n_frames, (n_frames - 1) * hop + n_fft


def stft_frames(x: Tensor, n_fft: int, hop: int, window: Tensor) -> Tensor:
    """Windowed spectra of a padded signal: (c, samples) -> (c, f, t) complex."""
    frames = x.unfold(-1, n_fft, hop) * window  # c t n_fft
    return torch.fft.rfft(frames, dim=-1).transpose(-1, -2)


def overlap_add(frames: Tensor, hop: int) -> Tensor:
    """Sum frames (..., t, n_fft) placed ``hop`` apart: -> (..., (t - 1) * hop + n_fft)."""
    *lead, t, n_fft = frames.shape
    r = n_fft // hop
    parts = frames.reshape(*lead, t, r, hop)
    out = frames.new_zeros(*lead, t + r - 1, hop)
    for i in range(r):
        out[..., i : i + t, :] += parts[..., i, :]
    return out.flatten(-2)


class CausalSTFT:
    """Whole-signal analysis and synthesis with the causal framing used when streaming.

    Differentiable: training computes its losses on exactly what users hear.
    """

    def __init__(self, n_fft: int, hop: int) -> None:
        self.n_fft, self.hop = n_fft, hop
        self.window = analysis_window(n_fft)
        self.synthesis = synthesis_window(n_fft, hop)

    def analyse(self, x: Tensor) -> Tensor:
        """(..., n) -> (..., f, t) complex, with the zero padding before and after."""
        n = x.shape[-1]
        _, length = padded_length(n, self.n_fft, self.hop)
        pad = self.n_fft - self.hop
        x = torch.nn.functional.pad(x, (pad, length - pad - n))
        lead = x.shape[:-1]
        spec = stft_frames(x.reshape(-1, x.shape[-1]), self.n_fft, self.hop, self.window)
        return spec.reshape(*lead, *spec.shape[-2:])

    def synthesise(self, spec: Tensor, n: int) -> Tensor:
        """(..., f, t) complex -> (..., n), aligned with the analysed signal."""
        frames = torch.fft.irfft(spec.transpose(-1, -2), n=self.n_fft) * self.synthesis
        pad = self.n_fft - self.hop
        return overlap_add(frames, self.hop)[..., pad : pad + n]
