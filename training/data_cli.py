"""`stemlive data ...`: make and convert training data (synthetic songs, real clips)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stemlive data synth`` and ``stemlive data real``."""
    data = subparsers.add_parser("data", help="make training data (synthetic songs, real clips)")
    sub = data.add_subparsers(dest="data_command", metavar="WHAT", required=True)

    synth = sub.add_parser(
        "synth",
        help="generate multitrack songs (MUSDB18-HQ layout)",
        description="Generate random songs with vocals, bass, drums and other stems, "
        "rendered with fluidsynth and mbrola, into OUT/{train,valid,test}/<song>/ "
        "(16-bit WAV stems and a float mixture.wav that is their sum).",
    )
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--songs", type=int, default=10, help="number of songs (default 10)")
    synth.add_argument(
        "--seconds", type=float, default=30.0, help="length of each song (default 30)"
    )
    synth.add_argument("--seed", type=int, default=0, help="seed of the first song (default 0)")
    synth.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes"
    )
    synth.add_argument("--sample-rate", type=int, default=44100, help="default 44100")
    synth.add_argument(
        "--midi", action="store_true", help="also write each arrangement as song.mid (with lyrics)"
    )
    synth.set_defaults(func=_synth)

    real = sub.add_parser(
        "real",
        help="convert the real multitrack material found on this machine",
        description="Convert the stempeg example clip and the Frets on Fire songs "
        "into a MUSDB18-HQ layout folder (see training/DATA_SOURCES.md).",
    )
    real.add_argument("--out", type=Path, required=True, help="output folder")
    real.add_argument("--sample-rate", type=int, default=44100, help="default 44100")
    real.set_defaults(func=_real)


def _synth(args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    from training.synth.corpus import generate_corpus

    start = time.monotonic()
    made = 0.0
    counts: dict[str, int] = {}
    gen = generate_corpus(
        args.out, args.songs, args.seconds, args.seed, args.jobs, args.sample_rate, args.midi
    )
    for _, split, seconds in tqdm(gen, total=args.songs, unit="song", desc="synth"):
        made += seconds
        counts[split] = counts.get(split, 0) + 1
    wall = time.monotonic() - start
    splits = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(
        f"{args.songs} songs in {args.out} ({splits}); "
        f"{made:.0f} s of new audio in {wall:.0f} s wall time"
        + (f" = {made / wall:.1f}x real time" if made else "")
    )
    return 0


def _real(args: argparse.Namespace) -> int:
    from training.real_material import convert_all

    for line in convert_all(args.out, args.sample_rate):
        print(line)
    return 0
