"""Mixing effects on whole signals: EQ, panning, compression, reverb, and the "air" band.

Everything works offline on the full excerpt (zero-phase FFT filters), which is
fine for making training data and keeps each effect a few lines.
Signals are (channels, samples) float arrays unless a docstring says mono.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

GainCurve = Callable[[np.ndarray], np.ndarray]  # frequencies in Hz -> gain in dB


def rfft(x: np.ndarray, size: int) -> np.ndarray:
    """Real FFT along the last axis, zero-padded to ``size`` (torch's is ~2x numpy's speed)."""
    return torch.fft.rfft(
        torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)), n=size
    ).numpy()


def irfft(spec: np.ndarray, size: int) -> np.ndarray:
    """Inverse of ``rfft`` (float64)."""
    return torch.fft.irfft(torch.from_numpy(spec), n=size).numpy()


def fft_size(n: int) -> int:
    """A fast FFT length of at least ``n``."""
    return 1 << int(np.ceil(np.log2(max(n, 2))))


def freqs(size: int, sample_rate: int) -> np.ndarray:
    """The bin frequencies (Hz) of an ``rfft`` of length ``size``."""
    return np.fft.rfftfreq(size, 1.0 / sample_rate)


def apply_gain_curve(x: np.ndarray, sample_rate: int, gain_db: GainCurve) -> np.ndarray:
    """Filter ``x`` (..., samples) by a zero-phase gain curve ``gain_db(freqs) -> dB``."""
    n = x.shape[-1]
    size = fft_size(n)
    spec = rfft(x, size) * 10.0 ** (gain_db(freqs(size, sample_rate)) / 20.0)
    return irfft(spec, size)[..., :n]


def lowpass_db(f: np.ndarray, cutoff: float, order: int = 4) -> np.ndarray:
    """Butterworth-shaped low-pass magnitude in dB."""
    return -10.0 * np.log10(1.0 + (f / cutoff) ** (2 * order))


def highpass_db(f: np.ndarray, cutoff: float, order: int = 2) -> np.ndarray:
    """Butterworth-shaped high-pass magnitude in dB."""
    r = np.maximum(f, 1e-3) / cutoff
    return -10.0 * np.log10(1.0 + r ** (-2 * order))


def bell_db(f: np.ndarray, center: float, gain: float, octaves: float) -> np.ndarray:
    """A peaking-EQ bell: ``gain`` dB at ``center``, about ``octaves`` wide."""
    d = np.log2(np.maximum(f, 1.0) / center)
    return gain * np.exp(-0.5 * (d / (octaves / 2.355)) ** 2)


def shelf_db(f: np.ndarray, corner: float, gain: float, high: bool) -> np.ndarray:
    """A shelf of ``gain`` dB above (high) or below ``corner``, smooth over an octave."""
    d = np.log2(np.maximum(f, 1.0) / corner)
    s = 1.0 / (1.0 + np.exp(-3.0 * d))
    return gain * (s if high else 1.0 - s)


def random_eq(rng: np.random.Generator, strength: float = 1.0) -> GainCurve:
    """A random tonal colour: one to three bells and two shelves, returned as a curve."""
    bells = [
        (
            float(np.exp(rng.uniform(np.log(150), np.log(8000)))),
            rng.normal(0, 3.5) * strength,
            rng.uniform(0.5, 2.5),
        )
        for _ in range(rng.integers(1, 4))
    ]
    low, high = rng.normal(0, 2.5) * strength, rng.normal(0, 2.5) * strength
    low_f, high_f = rng.uniform(100, 300), rng.uniform(3000, 9000)

    def curve(f: np.ndarray) -> np.ndarray:
        out = shelf_db(f, low_f, low, False) + shelf_db(f, high_f, high, True)
        for c, g, w in bells:
            out = out + bell_db(f, c, g, w)
        return out

    return curve


def pan_gains(position: float) -> np.ndarray:
    """Constant-power (left, right) gains, shape (2, 1); -1 left .. 1 right, 1 at centre."""
    angle = (np.clip(position, -1, 1) + 1) * np.pi / 4
    return np.array([[np.cos(angle)], [np.sin(angle)]]) * np.sqrt(2.0)


def pan(x: np.ndarray, position: float) -> np.ndarray:
    """Balance of a stereo (2, n) or mono (n,) signal; -1 left .. 1 right."""
    if x.ndim == 1:
        x = np.stack([x, x])
    return x * pan_gains(position)


def compress(x: np.ndarray, sample_rate: int, threshold_db: float, ratio: float) -> np.ndarray:
    """A smooth feed-forward compressor on the level of 10 ms frames (mono or stereo)."""
    mono = x if x.ndim == 1 else x.mean(axis=0)
    hop = max(1, sample_rate // 100)
    frames = len(mono) // hop + 1
    padded = np.pad(mono, (0, frames * hop - len(mono)))
    level = 10 * np.log10(np.mean(padded.reshape(frames, hop) ** 2, axis=1) + 1e-10)
    over = np.maximum(level - threshold_db, 0.0)
    gain = -over * (1.0 - 1.0 / ratio)
    # Release smoothing: gain recovers over ~100 ms.
    for i in range(1, frames):
        gain[i] = min(gain[i], gain[i - 1] * 0.9)
    curve = np.interp(np.arange(len(mono)), np.arange(frames) * hop + hop / 2, gain)
    return x * 10.0 ** (curve / 20.0)


def reverb_ir(
    rng: np.random.Generator, sample_rate: int, rt60: float, predelay: float, damping_hz: float
) -> np.ndarray:
    """A stereo room impulse response (2, samples): sparse early reflections and a
    decorrelated noise tail that darkens as it decays."""
    n = int((predelay + rt60 * 1.2) * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal((2, n)) * np.exp(-6.91 * t / rt60)
    start = int(predelay * sample_rate)
    tail[:, :start] = 0.0
    # Two copies, one dark, crossfaded over the decay: high frequencies die sooner.
    dark = apply_gain_curve(tail, sample_rate, lambda f: lowpass_db(f, damping_hz, 2))
    fade = np.clip(t / max(rt60 * 0.5, 1e-3), 0, 1)
    ir = tail * (1 - fade) + dark * fade
    for _ in range(int(rng.integers(4, 10))):
        k = start + int(rng.uniform(0.003, 0.05) * sample_rate)
        if k < n:
            ir[int(rng.integers(2)), k] += rng.uniform(0.3, 1.0) * rng.choice([-1, 1]) * 8
    return ir / np.sqrt(np.sum(ir**2) / 2)


def echo_ir(sample_rate: int, delay: float, feedback: float, repeats: int = 6) -> np.ndarray:
    """A ping-pong echo as an impulse response (2, samples)."""
    k = int(delay * sample_rate)
    ir = np.zeros((2, k * repeats + 1))
    for r in range(1, repeats + 1):
        ir[r % 2, r * k] = feedback ** (r - 1)
    return ir


def convolve(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Convolve each channel of ``x`` (2, n) with ``ir`` (2, m), cut to n samples."""
    n, m = x.shape[-1], ir.shape[-1]
    size = fft_size(n + m)
    return irfft(rfft(x, size) * rfft(ir, size), size)[..., :n]


def air_band(
    voice: np.ndarray,
    sample_rate: int,
    noisy: list[tuple[float, float]],
    phrase_starts: list[float],
    rng: np.random.Generator,
) -> np.ndarray:
    """Content above 8 kHz for a 16 kHz voice (mono in, mono out, to be added).

    Real voices have sibilance, breaths and harmonics up there; without them "no
    energy above 8 kHz" would tell the model "vocals". Three sources: noise bursts
    on s/t/f/... consonants, a breath before each phrase, and harmonics from a soft
    saturation of the 2-8 kHz band.
    """
    n = len(voice)
    rms = np.sqrt(np.mean(voice**2)) + 1e-9
    rng_hi = rng.uniform(12000, 18000)
    env = np.zeros(n)
    for a, b in noisy:
        i, j = int(a * sample_rate), int(b * sample_rate)
        if j > i and i < n:
            env[i:j] = np.maximum(env[i:j], np.hanning(j - i)[: max(0, min(j, n) - i)])
    breath_level = rng.uniform(0.1, 0.3)
    for t in phrase_starts:
        d = rng.uniform(0.15, 0.35)
        i, j = int((t - d - 0.05) * sample_rate), int((t - 0.05) * sample_rate)
        if i >= 0 and j <= n and j > i:
            env[i:j] = np.maximum(env[i:j], breath_level * np.hanning(j - i))
    # The voice's own consonant noise reaches 8 kHz; this continues it upwards.
    sib_corner = rng.uniform(7000, 9000)
    noise = apply_gain_curve(
        rng.standard_normal(n),
        sample_rate,
        lambda f: highpass_db(f, sib_corner, 6) + lowpass_db(f, rng_hi, 2),
    )
    noise /= np.sqrt(np.mean(noise**2)) + 1e-9
    sibilance = noise * env * rms * rng.uniform(0.1, 0.4)
    band = apply_gain_curve(voice, sample_rate, lambda f: highpass_db(f, 2500, 2))
    drive = rng.uniform(2.0, 6.0)
    harmonics = np.tanh(drive * band / (np.max(np.abs(band)) + 1e-9))
    harmonics = apply_gain_curve(harmonics, sample_rate, lambda f: highpass_db(f, 8000, 4))
    harmonics *= rms * rng.uniform(0.03, 0.12) / (np.sqrt(np.mean(harmonics**2)) + 1e-9)
    return sibilance + harmonics
