"""Real multitrack material reachable offline, converted to MUSDB18-HQ-style folders.

- The 4-stem clip in the PyPI ``stempeg`` wheel -> ``OUT/test/<name>/`` with all five
  files (labelled: evaluation).
- Debian's Frets on Fire song packs (guitar recorded apart from the backing) ->
  ``OUT/unlabeled/<pack>_<song>/{mixture,guitar,backing}.wav`` (real mixtures for
  listening and semi-supervised use; the guitar is part of "other", not all of it).

Sources and licences: training/DATA_SOURCES.md.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from training.datasets import STEMS, decode_stem_mp4

FRETSONFIRE_SONGS = Path("/usr/share/games/fretsonfire/data/songs")


def stempeg_example() -> Path | None:
    """The ``.stem.mp4`` shipped inside the stempeg wheel, if stempeg is installed."""
    spec = importlib.util.find_spec("stempeg")
    if spec is None or not spec.origin:
        return None
    found = sorted((Path(spec.origin).parent / "data").glob("*.stem.mp4"))
    return found[0] if found else None


def _read(path: Path, sample_rate: int) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    if x.shape[1] == 1:
        x = np.repeat(x, 2, axis=1)
    if sr != sample_rate:
        x = soxr.resample(x, sr, sample_rate)
    return x[:, :2]


def convert_stempeg(out: Path, sample_rate: int) -> str:
    """Write the stempeg example clip as a labelled song; returns a report line."""
    path = stempeg_example()
    if path is None:
        return "stempeg: not installed (pip install stempeg), skipped"
    streams = decode_stem_mp4(path, sample_rate).astype(np.float32) / 32768.0
    folder = out / "test" / path.name[: -len(".stem.mp4")]
    folder.mkdir(parents=True, exist_ok=True)
    # Stream 0 is the file's own master mix, not exactly the sum of the stems.
    for name, x in zip(("mixture", *STEMS), streams, strict=True):
        sf.write(folder / f"{name}.wav", x.T, sample_rate, subtype="FLOAT")
    return f"stempeg: {folder} ({streams.shape[-1] / sample_rate:.1f} s, 4 stems)"


def convert_fretsonfire(
    out: Path, sample_rate: int, root: Path = FRETSONFIRE_SONGS
) -> Iterator[str]:
    """Write each Frets on Fire song as mixture, guitar and backing; yields report lines."""
    songs = sorted(root.glob("*/*/guitar.ogg")) if root.is_dir() else []
    if not songs:
        yield (
            f"fretsonfire: no songs under {root} "
            "(apt install fretsonfire-songs-muldjord fretsonfire-songs-sectoid), skipped"
        )
        return
    for guitar_path in songs:
        song_dir = guitar_path.parent
        guitar = _read(guitar_path, sample_rate)
        backing = _read(song_dir / "song.ogg", sample_rate)
        n = max(len(guitar), len(backing))
        guitar = np.pad(guitar, ((0, n - len(guitar)), (0, 0)))
        backing = np.pad(backing, ((0, n - len(backing)), (0, 0)))
        mixture = guitar + backing
        peak = float(np.abs(mixture).max())
        if peak > 1.0:  # the game plays both at full volume; keep the sum unclipped
            mixture, guitar, backing = mixture / peak, guitar / peak, backing / peak
        name = f"{song_dir.parent.name}_{song_dir.name}".replace(" ", "_").lower()
        folder = out / "unlabeled" / name
        folder.mkdir(parents=True, exist_ok=True)
        for label, x in (("mixture", mixture), ("guitar", guitar), ("backing", backing)):
            sf.write(folder / f"{label}.wav", x, sample_rate, subtype="PCM_16")
        yield f"fretsonfire: {folder} ({n / sample_rate:.0f} s)"


def convert_all(out: Path, sample_rate: int = 44100) -> Iterator[str]:
    """Convert every source found; yields one report line per song or skipped source."""
    out.mkdir(parents=True, exist_ok=True)
    yield convert_stempeg(out, sample_rate)
    yield from convert_fretsonfire(out, sample_rate)
