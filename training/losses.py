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
    """Weights of the loss terms; ``mrstft_ffts`` adds L1 STFT terms at other resolutions.

    ``comp_weight`` adds L1 on power-law compressed spectra (``compressed``), which weighs
    quiet bins more than the linear terms do.

    ``sdr_weight`` adds minus the batch SDR per stem (dB, the evaluation's metric): L1
    terms pull an uncertain bin towards the median of its stems, often zero for every
    stem, while SDR (an L2 measure) rewards its expected share.
    """

    spec_weight: float = 1.0
    wave_weight: float = 1.0
    mrstft_ffts: tuple[int, ...] = ()  # e.g. (512, 1024, 4096): multi-resolution STFT terms
    mrstft_weight: float = 1.0
    stem_weights: tuple[float, ...] = ()  # per stem, in the model's stem order; () = all 1
    sdr_weight: float = 0.0  # per dB of minus the batch SDR, averaged over stems
    # L1 on power-law compressed spectra (|X|^p with X's phase, and |X|^p alone): linear
    # terms weigh a bin by its level, so a voice's quiet harmonics above 1 kHz, 20-30 dB
    # under its fundamentals, count for little; compressed they count for more.
    comp_weight: float = 0.0
    comp_power: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 < self.comp_power <= 1.0:
            raise ValueError(f"comp_power must be in (0, 1], got {self.comp_power}")


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
        w = self._item_weights(target_wave, known)
        spec = (d_spec.mean((2, 3, 4)) * w).sum()
        wave = (d_wave.mean(2) * w).sum()
        spec = spec / self.scale
        loss = self.cfg.spec_weight * spec + self.cfg.wave_weight * wave
        parts = {"spec": spec.item(), "wave": wave.item()}
        if self.cfg.comp_weight:
            p = self.cfg.comp_power
            ce, ct = compressed(est_spec / self.scale, p), compressed(target_spec / self.scale, p)
            d = (torch.view_as_real(ce) - torch.view_as_real(ct)).abs().mean(-1)
            d = d + (ce.abs() - ct.abs()).abs()
            comp = (d.mean((2, 3)) * w).sum()
            loss = loss + self.cfg.comp_weight * comp
            parts["comp"] = float(comp.detach())
        if self.extra:
            mr = 0.0
            for st in self.extra:
                d = torch.view_as_real(st.analyse(est_wave) - st.analyse(target_wave)).abs()
                d = (d.mean((2, 3, 4)) * w).sum()
                mr = mr + d / _spec_scale(st)
            mr = mr / len(self.extra)
            loss = loss + self.cfg.mrstft_weight * mr
            parts["mrstft"] = float(mr.detach())
        if self.cfg.sdr_weight:
            neg = -(batch_sdr(est_wave, target_wave, w > 0) * w.sum(0)).sum()
            loss = loss + self.cfg.sdr_weight * neg
            parts["sdr"] = -float(neg.detach())
        return loss, parts

    def _item_weights(self, target_wave: Tensor, known: Tensor | None) -> Tensor:
        """(b, s) weights summing to 1: stem weights times ``known``; uniform by default."""
        b, s = target_wave.shape[:2]
        w = torch.ones(b, s, dtype=target_wave.dtype, device=target_wave.device)
        if self.cfg.stem_weights:
            if len(self.cfg.stem_weights) != s:
                raise ValueError(
                    f"stem_weights has {len(self.cfg.stem_weights)} values for {s} stems"
                )
            w = w * torch.tensor(self.cfg.stem_weights, dtype=w.dtype, device=w.device)
        if known is not None:
            w = w * known
        return w / w.sum()


def compressed(x: Tensor, power: float, eps: float = 1e-8) -> Tensor:
    """Complex ``x`` with its magnitude raised to ``power`` and its phase kept.

    ``eps`` keeps the gradient finite at silent bins (|x|^p has an infinite slope at 0).
    """
    mag2 = x.real.square() + x.imag.square() + eps
    return x * mag2.pow((power - 1) / 2)


def batch_sdr(est: Tensor, target: Tensor, counted: Tensor) -> Tensor:
    """SDR (dB) per stem over the counted items of a batch: (b, s, n) waves, (b, s) bool -> (s,).

    Energies are summed over the items before the ratio, so a silent item (a muted
    stem in a remix) adds its error without making the ratio infinite.
    """
    m = counted.to(est.dtype)
    ref = (target.pow(2).sum(2) * m).sum(0)
    err = ((est - target).pow(2).sum(2) * m).sum(0)
    return 10 * torch.log10((ref + 1e-8) / (err + 1e-8))
