"""Reading and writing audio files for stemlive, with errors that name the file."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from model.errors import AudioFileError


@dataclass(frozen=True)
class AudioData:
    """Samples as float32 (channels, n) at ``sample_rate``, with what was done to read them."""

    samples: np.ndarray
    sample_rate: int
    warnings: tuple[str, ...] = ()


def read_audio(path: str | Path) -> AudioData:
    """Read any file soundfile reads; mono stays mono, more than two channels are downmixed.

    Non-finite samples become 0 (with a warning) so that they cannot poison the
    model's recurrent state; an empty or unreadable file raises AudioFileError.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioFileError(f"{path}: not a readable audio file ({exc})") from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: the file holds no samples")
    warnings = []
    samples = np.ascontiguousarray(data.T)
    if samples.shape[0] > 2:
        warnings.append(f"{path}: {samples.shape[0]} channels downmixed to stereo")
        samples = np.stack([samples[0::2].mean(0), samples[1::2].mean(0)])
    bad = ~np.isfinite(samples)
    if bad.any():
        warnings.append(f"{path}: {int(bad.sum())} NaN or infinite samples replaced by silence")
        samples = np.where(bad, 0.0, samples).astype(np.float32)
    return AudioData(samples, int(rate), tuple(warnings))


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample (channels, n) with soxr; the result is time-aligned (no added delay)."""
    if rate_in == rate_out:
        return samples
    out = soxr.resample(samples.T, rate_in, rate_out, quality="HQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def fit_length(samples: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad the last axis to exactly ``n`` samples."""
    if samples.shape[-1] >= n:
        return samples[..., :n]
    pad = [(0, 0)] * (samples.ndim - 1) + [(0, n - samples.shape[-1])]
    return np.pad(samples, pad)


def write_audio(path: Path, samples: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> None:
    """Write (channels, n) atomically: a failure leaves no half-written file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        sf.write(tmp, samples.T, sample_rate, subtype=subtype, format="WAV")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
