"""`stemlive data ...`: make and convert training data (synthetic songs, real clips)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``stemlive data`` commands (synth, real, mir1k, speech, sung-speech, unseen)."""
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
    synth.add_argument(
        "--soundfont",
        type=Path,
        metavar="SF2",
        help="render the instruments with this SoundFont (default: the generator's, "
        "FluidR3_GM; e.g. /usr/share/sounds/sf2/TimGM6mb.sf2 for other timbres)",
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

    mir = sub.add_parser(
        "mir1k",
        help="convert MIR-1K (real singing + backing) for training, split by singer",
        description="Convert MIR-1K's vocals/ and backing/ clips into OUT/{train,valid,test}/"
        "<clip>/{vocals,backing}.wav (44.1 kHz, 16-bit); 2 singers are held out for "
        "validation and 4 for test (training/real_vocals.py).",
    )
    mir.add_argument("--src", type=Path, required=True, help="the MIR-1K folder")
    mir.add_argument("--out", type=Path, default=Path("data/mir1k"), help="default data/mir1k")
    mir.set_defaults(func=_mir1k)

    speech = sub.add_parser(
        "speech",
        help="gather the real speech of Debian packages as folders for sung-speech",
        description="Link the Czech dialogue of fillets-ng-data-cs (several actors) into "
        "OUT/fillets_cs and decode the English prompts of asterisk-core-sounds-en-g722 (one "
        "woman) into OUT/asterisk_en (training/speech_packages.py); each folder is a --src "
        "of `stemlive data sung-speech`.",
    )
    speech.add_argument("--out", type=Path, default=Path("data/speech"), help="default data/speech")
    speech.set_defaults(func=_speech)

    sung = sub.add_parser(
        "sung-speech",
        help="make real read speech sing (melodies, vibrato, held vowels) as training voices",
        description="Give each utterance under SRC a random melody with Praat's PSOLA "
        "(training/sung_speech.py), VARIANTS times with other melodies and formants, into "
        "OUT/train/<utterance>_v<k>/vocals.wav (44.1 kHz, 16-bit). Use OUT with "
        "`stemlive train --vocals data/mir1k,OUT`.",
    )
    sung.add_argument("--src", type=Path, required=True, help="a folder of speech files")
    sung.add_argument(
        "--out", type=Path, default=Path("data/sung_speech"), help="default data/sung_speech"
    )
    sung.add_argument("--variants", type=int, default=2, help="clips per utterance (default 2)")
    sung.add_argument("--seed", type=int, default=0, help="default 0")
    sung.set_defaults(func=_sung_speech)

    unseen = sub.add_parser(
        "unseen",
        help="make the evaluation splits of sources never trained on",
        description="Songs with the MuseScore SoundFont and held-out MIR-1K singers "
        "(OUT/{valid,test}) and the held-out singers over their real backing (REAL_OUT).",
    )
    unseen.add_argument("--mir1k", type=Path, default=Path("data/mir1k"), help="from data mir1k")
    unseen.add_argument("--out", type=Path, default=Path("data/unseen"))
    unseen.add_argument("--real-out", type=Path, default=Path("data/mir1k_real"))
    unseen.set_defaults(func=_unseen)


def _synth(args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    from training.synth.corpus import generate_corpus

    start = time.monotonic()
    made = 0.0
    counts: dict[str, int] = {}
    gen = generate_corpus(
        args.out, args.songs, args.seconds, args.seed, args.jobs, args.sample_rate, args.midi,
        args.soundfont or "",
    )  # fmt: skip
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


def _mir1k(args: argparse.Namespace) -> int:
    from training.real_vocals import prepare_mir1k

    counts = prepare_mir1k(args.src, args.out)
    print(f"MIR-1K in {args.out}: " + ", ".join(f"{k} {v} clips" for k, v in counts.items()))
    return 0


def _speech(args: argparse.Namespace) -> int:
    from training.speech_packages import gather

    counts = gather(args.out)
    print(f"speech in {args.out}: " + ", ".join(f"{k} {v} clips" for k, v in counts.items()))
    return 0


def _sung_speech(args: argparse.Namespace) -> int:
    import time

    from training.sung_speech import make_sung_speech

    start = time.monotonic()
    st = make_sung_speech(args.src, args.out, args.variants, args.seed)
    wall = time.monotonic() - start
    print(
        f"{st['clips']} new clips in {args.out}/train from {st['utterances']} utterances "
        f"({st['seconds_in'] / 60:.1f} min of speech, {st['skipped']} skipped); "
        f"{st['seconds_out'] / 60:.1f} min of singing in {wall:.0f} s"
        + (f" = {st['seconds_out'] / wall:.1f}x real time" if st["clips"] else "")
    )
    return 0


def _unseen(args: argparse.Namespace) -> int:
    from training.unseen import build_mir1k_real, build_unseen

    build_mir1k_real(args.real_out, args.mir1k)
    build_unseen(args.out, args.mir1k)
    print(f"unseen-source splits in {args.out} and {args.real_out}")
    return 0
