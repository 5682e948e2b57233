"""Offline separation of files: what `stemlive separate` does, on the same Separator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from model.errors import StemliveError
from model.separator import Separator
from realtime.audiofile import fit_length, read_audio, resample, write_audio
from realtime.fx import ChainSpec
from realtime.fxrack import FxRack

OFFLINE_BLOCK = 1024  # the rack's block offline (any fixed size gives the live sound)


def parse_gains(text: str, stems: tuple[str, ...]) -> dict[str, float]:
    """Parse ``vocals=0,bass=0.5`` (linear gains; unnamed stems keep 1.0)."""
    gains = dict.fromkeys(stems, 1.0)
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name not in gains:
            raise StemliveError(
                f"bad mix item {item!r}: write STEM=GAIN with STEM one of {', '.join(stems)}"
            )
        try:
            gains[name] = float(value)
        except ValueError:
            raise StemliveError(f"bad gain {value!r} for {name}: expected a number") from None
    return gains


def separate_file(
    sep: Separator,
    in_path: Path,
    out_dir: Path,
    mix: dict[str, float] | None = None,
    subtype: str = "FLOAT",
    progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] = print,
    chains: ChainSpec | None = None,
    key: int | None = None,
) -> list[Path]:
    """Write ``out_dir/<name>/<stem>.wav`` (and ``mix.wav``) at the input's rate and length.

    ``chains`` run on the stems (and the master on the mix), ``key`` shifts the mix's
    accompaniment: through the live engine's rack at the model's rate, latency removed.
    """
    if key is not None and mix is None:
        raise StemliveError("--key changes the mix: give --mix too (e.g. --mix vocals=1)")
    audio = read_audio(in_path)
    for w in audio.warnings:
        warn(w)
    n = audio.samples.shape[1]
    x = resample(audio.samples, audio.sample_rate, sep.sample_rate)
    stems = sep.separate(x, progress=progress)  # s c n'
    mixed = None
    if chains or key is not None:
        rack = FxRack(sep.stems, chains, sep.sample_rate, stems.shape[1], OFFLINE_BLOCK, key)
        g = np.array([(mix or {}).get(name, 1.0) for name in sep.stems], np.float32)
        stems, mixed = rack.render(np.asarray(stems, np.float32), g)
        mixed = fit_length(resample(mixed, sep.sample_rate, audio.sample_rate)[None], n)[0]
    stems = np.stack([resample(s, sep.sample_rate, audio.sample_rate) for s in stems])
    stems = fit_length(stems, n)
    dest = out_dir / Path(in_path).stem.removesuffix(".stem")
    written = []
    for name, s in zip(sep.stems, stems, strict=True):
        written.append(dest / f"{name}.wav")
        write_audio(written[-1], s, audio.sample_rate, subtype)
    if mix is not None:
        g = np.array([mix[name] for name in sep.stems], np.float32)
        written.append(dest / "mix.wav")
        if mixed is None:
            mixed = np.tensordot(g, stems, axes=1)
        write_audio(written[-1], mixed, audio.sample_rate, subtype)
    return written
