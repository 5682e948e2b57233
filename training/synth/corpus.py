"""The one front end of the song generator: a song folder (``make_song``) and a job runner
(``make_songs``), under both corpus writers: ``stemlive data synth`` (``generate_corpus``
here, split by a hash of the seed) and the training corpus ``data/gen``
(``training.train_corpus``, split by seed ranges).

Stems are 16-bit PCM WAV and the mixture a float WAV that is exactly their sum, which the
training loader memory-maps; ``info.json`` describes the arrangement.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import shutil
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
class SongJob:
    """One song to make into ``folder``: the one unit of both corpus writers."""

    folder: Path
    seed: int
    seconds: float
    sample_rate: int = 44100
    soundfont: str = ""  # a SoundFont path; "" for the generator's default
    midi: bool = False  # also write the arrangement as song.mid

    @property
    def split(self) -> str:
        return self.folder.parent.name


def song_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished song (its four stems and the mixture)."""
    return all((folder / f"{n}.wav").is_file() for n in ("mixture", *STEMS))


def make_song(job: SongJob) -> tuple[SongJob, float]:
    """Generate and store one song (skipped if complete); returns (job, seconds made)."""
    if song_complete(job.folder):
        return job, 0.0
    if job.soundfont:
        song = generate_song(job.seed, job.seconds, job.sample_rate, Path(job.soundfont))
    else:
        song = generate_song(job.seed, job.seconds, job.sample_rate)
    tmp = job.folder.with_name(job.folder.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    write_stems(tmp, song.stems, job.sample_rate)
    (tmp / "info.json").write_text(json.dumps(song.info, indent=1) + "\n")
    if job.midi and song.arrangement is not None:
        from training.synth.midi import write_midi

        write_midi(song.arrangement, tmp / "song.mid", job.seconds)
    # Rename last, so an interrupted run never leaves a half-written song folder.
    if job.folder.exists():
        shutil.rmtree(job.folder)
    tmp.rename(job.folder)
    return job, job.seconds


def make_songs(todo: list[SongJob], jobs: int) -> Iterator[tuple[SongJob, float]]:
    """Every song of ``todo`` not yet complete, made by ``jobs`` processes; yields
    (job, seconds made) as each is done (0 s for songs already there)."""
    done = [job for job in todo if song_complete(job.folder)]
    rest = [job for job in todo if not song_complete(job.folder)]
    yield from ((job, 0.0) for job in done)
    if rest:
        yield from run_jobs(make_song, rest, jobs)


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
    soundfont: Path | str = "",
) -> Iterator[tuple[int, str, float]]:
    """Make songs with seeds ``seed .. seed+songs-1`` under ``out`` (split by a hash of the
    seed, ``<split>/synth_<seed>``); yields (seed, split, seconds made) as each is done.

    Arguments are checked at once (not at the first ``next``), so errors come before
    any progress bar.
    """
    if songs < 1:
        raise StemliveError(f"--songs must be at least 1, got {songs}")
    if seconds < 2:
        raise StemliveError(f"--seconds must be at least 2, got {seconds}")
    if jobs < 1:
        raise StemliveError(f"--jobs must be at least 1, got {jobs}")
    if soundfont and not Path(soundfont).is_file():
        raise StemliveError(f"--soundfont {soundfont} is not a file (a .sf2 or .sf3 bank)")
    out.mkdir(parents=True, exist_ok=True)
    todo = [
        SongJob(out / split_of(s) / song_name(s), s, seconds, sample_rate, str(soundfont), midi)
        for s in range(seed, seed + songs)
    ]
    return ((job.seed, job.split, made) for job, made in make_songs(todo, jobs))


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
