"""Separation metrics: whole-track SDR, SI-SDR, and cSDR (median of 1 s frames, museval's way).

Signals are (c, n) arrays of one stem: reference and estimate.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-10


def sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Whole-track SDR in dB: energy of the reference over that of the error, all channels."""
    ref, est = np.asarray(ref, np.float64), np.asarray(est, np.float64)
    return float(10 * np.log10((np.sum(ref**2) + _EPS) / (np.sum((ref - est) ** 2) + _EPS)))


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR in dB (one optimal scale for all channels)."""
    ref, est = np.asarray(ref, np.float64).ravel(), np.asarray(est, np.float64).ravel()
    alpha = np.dot(est, ref) / (np.dot(ref, ref) + _EPS)
    target = alpha * ref
    return float(10 * np.log10((np.sum(target**2) + _EPS) / (np.sum((est - target) ** 2) + _EPS)))


def framewise_sdr(ref: np.ndarray, est: np.ndarray, win: int, hop: int | None = None) -> np.ndarray:
    """SDR of each window of ``win`` samples; NaN where the reference is silent (as museval)."""
    hop = hop or win
    n = ref.shape[-1]
    out = []
    for start in range(0, max(1, n - win + 1), hop):
        r, e = ref[..., start : start + win], est[..., start : start + win]
        out.append(np.nan if np.sum(np.abs(r)) == 0 else sdr(r, e))
    return np.array(out)


def csdr(ref: np.ndarray, est: np.ndarray, sample_rate: int) -> float:
    """Median over 1 s frames of the plain SDR (museval's aggregation, without its filter)."""
    frames = framewise_sdr(ref, est, sample_rate)
    return float(np.nanmedian(frames)) if np.isfinite(frames).any() else float("nan")


def museval_csdr(refs: np.ndarray, ests: np.ndarray, sample_rate: int) -> np.ndarray | None:
    """museval (BSSEval v4) median-of-1-s-frames SDR per source, or None if not installed.

    ``refs`` and ``ests``: (sources, c, n).
    """
    try:
        import museval
    except ImportError:
        return None
    r = np.transpose(refs, (0, 2, 1)).astype(np.float64)
    e = np.transpose(ests, (0, 2, 1)).astype(np.float64)
    sdrs, _, _, _ = museval.evaluate(r, e, win=sample_rate, hop=sample_rate)
    return np.nanmedian(sdrs, axis=1)


def shares(refs: np.ndarray, est: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the estimate of stem ``target`` comes from: true stems (s, c, n), estimate (c, n)
    -> (least-squares coefficient of each true stem in the estimate (s,), energy of each such
    part in dB relative to the target stem's energy (s,)).

    Coefficient 0.4 on the target: the estimate holds 40 % of its amplitude (-8 dB); a part
    of another stem at -15 dB is bleed 15 dB below the target.
    """
    a = np.asarray(refs, np.float64).reshape(refs.shape[0], -1).T
    coef, *_ = np.linalg.lstsq(a, np.asarray(est, np.float64).ravel(), rcond=None)
    energy = np.sum(a**2, axis=0)
    return coef, 10 * np.log10((coef**2 * energy + _EPS) / (energy[target] + _EPS))
