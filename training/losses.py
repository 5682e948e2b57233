"""Training losses: the paper's L1 on STFT real/imaginary parts plus L1 on the waveform.

Axes: b batch item (a channel of a song), s stem, f bin, t frame, n sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from model.stft import CausalSTFT


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms; ``mrstft_ffts`` adds L1 STFT terms at other resolutions."""

    spec_weight: float = 1.0
    wave_weight: float = 1.0
    mrstft_ffts: tuple[int, ...] = ()  # e.g. (512, 1024, 4096): multi-resolution STFT terms
    mrstft_weight: float = 1.0


def _spec_scale(stft: CausalSTFT) -> float:
    # STFT values grow with the window's energy; dividing by its root keeps the
    # spectral term on the waveform term's scale whatever n_fft is.
    return float(stft.window.pow(2).sum().sqrt())


class SeparationLoss:
    """L1(re, im) of the estimated vs. target STFT + L1 waveform (+ optional multi-res STFT)."""

    def __init__(self, cfg: LossConfig, stft: CausalSTFT) -> None:
        self.cfg, self.stft = cfg, stft
        self.scale = _spec_scale(stft)
        self.extra = [CausalSTFT(n, n // 4) for n in cfg.mrstft_ffts]

    def __call__(
        self, est_spec: Tensor, est_wave: Tensor, target_wave: Tensor, known: Tensor | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        """Loss of (b, s, f, t) complex + (b, s, n) estimates against (b, s, n) targets.

        ``known`` (b, s) in {0, 1}: only known targets count (semi-supervised items).
        """
        target_spec = self.stft.analyse(target_wave)
        d_spec = (torch.view_as_real(est_spec) - torch.view_as_real(target_spec)).abs()
        d_wave = (est_wave - target_wave).abs()
        if known is None:
            spec, wave = d_spec.mean(), d_wave.mean()
        else:
            w = known / known.sum()
            spec = (d_spec.mean((2, 3, 4)) * w).sum()
            wave = (d_wave.mean(2) * w).sum()
        spec = spec / self.scale
        loss = self.cfg.spec_weight * spec + self.cfg.wave_weight * wave
        parts = {"spec": spec.item(), "wave": wave.item()}
        if self.extra:
            mr = 0.0
            for st in self.extra:
                d = torch.view_as_real(st.analyse(est_wave) - st.analyse(target_wave)).abs()
                d = d.mean() if known is None else (d.mean((2, 3, 4)) * w).sum()
                mr = mr + d / _spec_scale(st)
            mr = mr / len(self.extra)
            loss = loss + self.cfg.mrstft_weight * mr
            parts["mrstft"] = float(mr.detach())
        return loss, parts
