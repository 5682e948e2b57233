"""Write the bundled demo song (model/demo/) from one generator seed, as 16-bit FLAC.

Usage: ``python -m training.demo_song --seed 95 --seconds 20 --out model/demo``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from training.synth.song import STEMS, generate_song


def write_demo(out: Path, seed: int, seconds: float, stems: bool = True) -> Path:
    """Write the song of ``seed`` as FLACs peaking at -1 dBFS; returns the mixture path."""
    song = generate_song(seed, seconds)
    # One gain for everything keeps the stems adding up to the mixture.
    gain = 10 ** (-1 / 20) / max(
        np.abs(song.mixture).max(), *(np.abs(s).max() for s in song.stems.values())
    )
    out.mkdir(parents=True, exist_ok=True)
    mix_path = out / "demo_song.flac"
    sf.write(mix_path, (song.mixture * gain).T, song.sample_rate, subtype="PCM_16")
    if stems:
        (out / "stems").mkdir(exist_ok=True)
        for name in STEMS:
            sf.write(
                out / "stems" / f"{name}.flac",
                (song.stems[name] * gain).T,
                song.sample_rate,
                subtype="PCM_16",
            )
    return mix_path


def main() -> None:
    """Command-line entry: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=95)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=Path("model/demo"))
    parser.add_argument("--no-stems", action="store_true")
    args = parser.parse_args()
    print(write_demo(args.out, args.seed, args.seconds, not args.no_stems))


if __name__ == "__main__":
    main()
