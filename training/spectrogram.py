"""Spectrogram pictures of a song folder's stems, to look at what the generator made.

Usage: ``python -m training.spectrogram SONG_DIR OUT.png``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from model.errors import StemliveError

PANELS = ("mixture", "vocals", "bass", "drums", "other")


def stem_spectrograms(song_dir: Path, out_png: Path, seconds: float | None = None) -> None:
    """Draw log-magnitude spectrograms (0 Hz to Nyquist, dB) of mixture and stems into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(PANELS), 1, figsize=(8, 9), sharex=True)
    for ax, name in zip(axes, PANELS, strict=True):
        path = song_dir / f"{name}.wav"
        if not path.is_file():
            path = song_dir / f"{name}.flac"
        if not path.is_file():
            raise StemliveError(f"{song_dir} has no {name}.wav or {name}.flac")
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
        if seconds:
            audio = audio[: int(seconds * sr)]
        mono = audio.mean(axis=1)
        win, hop = 2048, 512
        frames = 1 + (len(mono) - win) // hop
        idx = np.arange(win)[None, :] + hop * np.arange(frames)[:, None]
        spec = np.abs(np.fft.rfft(mono[idx] * np.hanning(win), axis=1)).T
        db = 20 * np.log10(spec + 1e-7)
        ax.imshow(
            db,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=db.max() - 90,
            vmax=db.max(),
            extent=(0, len(mono) / sr, 0, sr / 2000),
        )
        ax.axhline(8.0, color="cyan", lw=0.6, ls="--")
        ax.set_ylabel(f"{name}\nkHz")
    axes[-1].set_xlabel("seconds (dashed line: 8 kHz)")
    fig.suptitle(song_dir.name)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=60)
    plt.close(fig)


if __name__ == "__main__":
    stem_spectrograms(Path(sys.argv[1]), Path(sys.argv[2]))
