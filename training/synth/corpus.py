"""Write many generated songs as a MUSDB18-HQ style folder, in parallel, split by seed.

Stems are 16-bit PCM WAV and the mixture a float WAV that is exactly their sum: the one
format of both corpus writers (this one and ``training.train_corpus``), which the training
loader memory-maps.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import soundfile as sf

from model.errors import StemliveError
from training.synth.song import STEMS, generate_song

T = TypeVar("T")
R = TypeVar("R")

SPLITS = (("train", 0.90), ("valid", 0.05), ("test", 0.05))


def split_of(seed: int) -> str:
    """The split a song seed belongs to (~90/5/5), fixed by the seed alone."""
    u = (
        int.from_bytes(hashlib.sha256(f"stemlive-split-{seed}".encode()).digest()[:8], "big")
        / 2**64
    )
    edge = 0.0
    for name, share in SPLITS:
        edge += share
        if u < edge:
            return name
    return SPLITS[-1][0]


def song_name(seed: int) -> str:
    """Folder name of the song made from ``seed``."""
    return f"synth_{seed:08d}"


@dataclass(frozen=True)
class Job:
    """One song to make."""

    seed: int
    seconds: float
    sample_rate: int
    out: Path
    midi: bool = False  # also write the arrangement as song.mid


def write_song(job: Job) -> tuple[int, str, float]:
    """Generate and store one song (skipped if complete); returns (seed, split, seconds)."""
    split = split_of(job.seed)
    folder = job.out / split / song_name(job.seed)
    if (folder / "info.json").is_file():
        return job.seed, split, 0.0
    song = generate_song(job.seed, job.seconds, job.sample_rate)
    tmp = folder.with_name(folder.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    write_stems(tmp, song.stems, job.sample_rate)
    (tmp / "info.json").write_text(json.dumps(song.info, indent=1) + "\n")
    if job.midi and song.arrangement is not None:
        from training.synth.midi import write_midi

        write_midi(song.arrangement, tmp / "song.mid", job.seconds)
    # Rename last, so an interrupted run never leaves a half-written song folder.
    if folder.exists():
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    tmp.rename(folder)
    return job.seed, split, job.seconds


def write_stems(folder: Path, stems: dict[str, np.ndarray], sample_rate: int) -> None:
    """``folder/<stem>.wav`` (16-bit PCM) of each (c, n) float stem, and ``mixture.wav``
    (float): the sum of the *stored*, quantised stems, so that the files add up exactly."""
    for name in STEMS:
        sf.write(folder / f"{name}.wav", stems[name].T, sample_rate, "PCM_16")
    mix = sum(sf.read(folder / f"{n}.wav", dtype="float32")[0] for n in STEMS)
    sf.write(folder / "mixture.wav", np.clip(mix, -1, 1), sample_rate, "FLOAT")


def _init_worker() -> None:
    import torch

    # Each worker takes one core; FFT threads would fight over the same cores.
    torch.set_num_threads(1)


def generate_corpus(
    out: Path,
    songs: int,
    seconds: float,
    seed: int,
    jobs: int,
    sample_rate: int = 44100,
    midi: bool = False,
) -> Iterator[tuple[int, str, float]]:
    """Make songs with seeds ``seed .. seed+songs-1`` under ``out``; yields each as it is done.

    Arguments are checked at once (not at the first ``next``), so errors come before
    any progress bar.
    """
    if songs < 1:
        raise StemliveError(f"--songs must be at least 1, got {songs}")
    if seconds < 2:
        raise StemliveError(f"--seconds must be at least 2, got {seconds}")
    if jobs < 1:
        raise StemliveError(f"--jobs must be at least 1, got {jobs}")
    out.mkdir(parents=True, exist_ok=True)
    todo = [Job(seed + i, seconds, sample_rate, out, midi) for i in range(songs)]
    return run_jobs(write_song, todo, jobs)


def run_jobs(fn: Callable[[T], R], todo: list[T], jobs: int) -> Iterator[R]:
    """``fn`` of each item of ``todo`` in ``jobs`` processes (in completion order).

    Each process uses one torch thread; songs depend only on their seed, so the
    results are the same for any ``jobs``.
    """
    if jobs == 1:
        _init_worker()
        for job in todo:
            yield fn(job)
        return
    # "spawn": fluidsynth and torch do not like being forked after they started threads.
    with mp.get_context("spawn").Pool(jobs, initializer=_init_worker) as pool:
        yield from pool.imap_unordered(fn, todo)
