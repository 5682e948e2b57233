"""Spectrogram pictures of a song folder's stems, to look at what the generator made, and
of one stem's estimate against its reference, to look at where a model goes wrong.

Usage: ``python -m training.spectrogram SONG_DIR OUT.png``, or
``python -m training.spectrogram --estimate SONG_DIR OUT.png [WEIGHTS] [STEM]``
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
        db = _db(mono)
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


def _db(mono: np.ndarray) -> np.ndarray:
    win, hop = 2048, 512
    frames = 1 + (len(mono) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(frames)[:, None]
    return 20 * np.log10(np.abs(np.fft.rfft(mono[idx] * np.hanning(win), axis=1)).T + 1e-7)


def voice_air_figure(voice_wav: Path, out_png: Path, seed: int = 0) -> None:
    """A 16 kHz-band voice before and after the record chain that gives it content above
    8 kHz (``training.real_vocals.vocal_chain``), with their long-term spectra."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training.real_vocals import vocal_chain

    raw, sr = sf.read(voice_wav, dtype="float32", always_2d=True)
    raw = raw.mean(axis=1)
    made = vocal_chain(raw, sr, np.random.default_rng(seed)).mean(axis=0)
    fig, axes = plt.subplots(3, 1, figsize=(8, 8))
    panels = (("as recorded (16 kHz)", raw), ("record chain", made))
    for ax, (name, x) in zip(axes[:2], panels, strict=True):
        db = _db(x)
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=db.max() - 90,
                  vmax=db.max(), extent=(0, len(x) / sr, 0, sr / 2000))  # fmt: skip
        ax.axhline(8.0, color="cyan", lw=0.6, ls="--")
        ax.set_ylabel(f"{name}\nkHz")
        spectrum = 10 * np.log10(np.mean(10 ** (db / 10), axis=1) + 1e-12)
        f = np.linspace(0, sr / 2000, len(spectrum))
        axes[2].plot(f, spectrum - spectrum.max(), label=name)
    axes[2].set_xlabel("kHz")
    axes[2].set_ylabel("long-term dB")
    axes[2].set_ylim(-100, 5)
    axes[2].legend()
    fig.suptitle(voice_wav.parent.name)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=60)
    plt.close(fig)


def estimate_figure(
    song_dir: Path,
    out_png: Path,
    weights: str | None = None,
    stem: str = "vocals",
    max_khz: float = 4.0,
) -> dict[str, float]:
    """Mixture, reference, estimate (``Separator.load(weights).separate``) and error of one
    stem, 0..``max_khz``, on one dB scale (the mixture's peak), so that a quiet estimate
    looks quiet. The song is read as ``stemlive eval`` reads it (``evaluate.load_song``:
    the mixture is the sum of the stems), so the SDR is the one the suite reports. Returns
    it and the coefficient of each true stem in the estimate (``evaluate_metrics.shares``),
    which the title shows too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from model.separator import Separator
    from training.datasets import STEMS
    from training.evaluate import load_song
    from training.evaluate_metrics import sdr, shares

    sep = Separator.load(weights)
    if stem not in sep.stems or stem not in STEMS:
        raise StemliveError(f"the model has no stem {stem!r}: {', '.join(sep.stems)}")
    mix, refs, sr = load_song(song_dir)
    if sr != sep.sample_rate:
        raise StemliveError(f"{song_dir} is at {sr} Hz, the model at {sep.sample_rate} Hz")
    k = STEMS.index(stem)
    est = sep.separate(mix)[sep.stems.index(stem)]
    coef, _ = shares(refs, est, k)
    result = {
        "sdr": sdr(refs[k], est),
        **{f"coef_{n}": float(c) for n, c in zip(STEMS, coef, strict=True)},
    }
    panels = (
        ("mixture", mix),
        (f"{stem} reference", refs[k]),
        (f"{stem} estimate", est),
        ("estimate - reference", est - refs[k]),
    )
    top = _db(mix.mean(0)).max()
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 7.5), sharex=True)
    for ax, (name, x) in zip(axes, panels, strict=True):
        ax.imshow(_db(x.mean(0)), origin="lower", aspect="auto", cmap="magma", vmin=top - 80,
                  vmax=top, extent=(0, x.shape[-1] / sr, 0, sr / 2000))  # fmt: skip
        ax.set_ylim(0, max_khz)
        ax.set_ylabel(f"{name}\nkHz")
    axes[-1].set_xlabel("seconds (one dB scale: the mixture's peak to 80 dB under it)")
    parts = ", ".join(f"{n} {c:.2f}" for n, c in zip(STEMS, coef, strict=True))
    fig.suptitle(
        f"{song_dir.name}: {stem} SDR {result['sdr']:.2f} dB\nestimate = {parts} x the true stems"
    )
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=60)
    plt.close(fig)
    return result


if __name__ == "__main__":  # SONG_DIR OUT.png, --voice VOICE.wav OUT.png, --estimate ...
    if sys.argv[1] == "--voice":
        voice_air_figure(Path(sys.argv[2]), Path(sys.argv[3]))
    elif sys.argv[1] == "--estimate":
        print(estimate_figure(Path(sys.argv[2]), Path(sys.argv[3]), *sys.argv[4:6]))
    else:
        stem_spectrograms(Path(sys.argv[1]), Path(sys.argv[2]))
