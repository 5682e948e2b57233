"""Multitrack data sets for training: MUSDB18-HQ-layout folders and ``.stem.mp4`` files,
and a torch data set of remixed, augmented segments (the BSRNN paper's recipe).

Axes: s stem (vocals, bass, drums, other), c channel, n sample.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from model.errors import StemliveError

STEMS = ("vocals", "bass", "drums", "other")
# Native Instruments stem files: 0 mixture, 1 drums, 2 bass, 3 other, 4 vocals.
STEM_MP4_STREAMS = {"drums": 1, "bass": 2, "other": 3, "vocals": 4}


class Track:
    """One song with four stems that can be read in pieces, (c, n) float32 at a time."""

    name: str
    sample_rate: int
    frames: int

    def read(self, stem: str, start: int, frames: int) -> np.ndarray:
        """Samples ``start .. start+frames`` of ``stem``, shape (2, frames) float32."""
        raise NotImplementedError


class FolderTrack(Track):
    """A song folder ``<song>/{vocals,bass,drums,other}.wav|.flac``, read with partial reads."""

    def __init__(self, folder: Path) -> None:
        self.name = folder.name
        self.paths = {}
        for s in STEMS:
            for ext in ("wav", "flac"):
                if (folder / f"{s}.{ext}").is_file():
                    self.paths[s] = folder / f"{s}.{ext}"
                    break
            else:
                raise StemliveError(f"{folder} has no {s}.wav or {s}.flac (MUSDB18-HQ layout)")
        infos = {s: sf.info(str(p)) for s, p in self.paths.items()}
        rates = {i.samplerate for i in infos.values()}
        if len(rates) != 1:
            raise StemliveError(f"the stems of {folder} have different sample rates {rates}")
        self.sample_rate = rates.pop()
        # Stems of one song may differ by a few samples (codec padding): use the shortest.
        self.frames = min(i.frames for i in infos.values())

    def read(self, stem: str, start: int, frames: int) -> np.ndarray:
        x, _ = sf.read(
            self.paths[stem], start=start, frames=frames, dtype="float32", always_2d=True
        )
        return _stereo(x.T, frames)


class MemoryTrack(Track):
    """A song held in memory as int16 (s, c, n): for decoded ``.stem.mp4`` files or small sets."""

    def __init__(self, name: str, stems: np.ndarray, sample_rate: int) -> None:
        self.name = name
        self.stems = stems
        self.sample_rate = sample_rate
        self.frames = stems.shape[-1]

    def read(self, stem: str, start: int, frames: int) -> np.ndarray:
        x = self.stems[STEMS.index(stem), :, start : start + frames].astype(np.float32) / 32768.0
        return _stereo(x, frames)


def _stereo(x: np.ndarray, frames: int) -> np.ndarray:
    if x.shape[0] == 1:
        x = np.repeat(x, 2, axis=0)
    x = x[:2]
    if x.shape[1] < frames:
        x = np.pad(x, ((0, 0), (0, frames - x.shape[1])))
    return np.ascontiguousarray(x)


def decode_stem_mp4(path: Path, sample_rate: int = 44100) -> np.ndarray:
    """Decode the five streams of a ``.stem.mp4`` with ffmpeg: (5, 2, n) int16, mixture first
    and then vocals, bass, drums, other."""
    streams = [0] + [STEM_MP4_STREAMS[s] for s in STEMS]
    out = []
    for idx in streams:
        cmd = [
            "ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:a:{idx}",
            "-f", "s16le", "-ac", "2", "-ar", str(sample_rate), "-",
        ]  # fmt: skip
        try:
            raw = subprocess.run(cmd, capture_output=True, check=True, timeout=600).stdout
        except FileNotFoundError as exc:
            raise StemliveError(
                "ffmpeg is needed to read .stem.mp4 files; apt install ffmpeg"
            ) from exc
        except subprocess.CalledProcessError as exc:
            reason = exc.stderr.decode(errors="replace").strip()
            raise StemliveError(f"cannot decode stream {idx} of {path}: {reason}") from None
        out.append(np.frombuffer(raw, dtype="<i2").reshape(-1, 2).T)
    n = min(x.shape[1] for x in out)
    return np.stack([x[:, :n] for x in out])


def open_tracks(
    path: str | Path, split: str | None = "train", sample_rate: int = 44100
) -> list[Track]:
    """The songs under ``path``: a MUSDB18-HQ folder (``path/split/<song>/``), a folder of
    song folders, a folder of ``.stem.mp4`` files, or one ``.stem.mp4`` file."""
    path = Path(path)
    if path.is_file() and path.name.endswith(".stem.mp4"):
        return [
            MemoryTrack(
                path.name[: -len(".stem.mp4")], decode_stem_mp4(path, sample_rate)[1:], sample_rate
            )
        ]
    if not path.is_dir():
        raise StemliveError(f"{path} is neither a folder nor a .stem.mp4 file")
    base = path / split if split and (path / split).is_dir() else path
    mp4s = sorted(base.glob("*.stem.mp4"))
    if mp4s:
        return [t for p in mp4s for t in open_tracks(p, None, sample_rate)]
    folders = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.endswith(".partial"))
    tracks = [FolderTrack(p) for p in folders if any(p.glob("vocals.*"))]
    if not tracks:
        raise StemliveError(
            f"no songs under {base}: expected <song>/{{vocals,bass,drums,other}}.wav folders "
            "(MUSDB18-HQ layout) or .stem.mp4 files; make some with `stemlive data synth`"
        )
    return tracks


@dataclass(frozen=True)
class AugmentConfig:
    """The paper's remixing augmentation; gains in dB, probabilities per stem and example."""

    segment_seconds: float = 3.0
    remix: bool = True  # each stem from its own random song and offset
    gain_db: float = 10.0  # uniform in +-gain_db per stem
    p_swap: float = 0.5  # left/right swap per stem
    p_silence: float = 0.1  # a stem silenced (its target becomes zero)
    silent_db: float = -50.0  # a stem segment below this RMS (dBFS) counts as silent
    max_tries: int = 30  # redraws of a silent segment before giving up on it

    def __post_init__(self) -> None:
        if self.segment_seconds <= 0:
            raise StemliveError(f"segment_seconds must be positive, got {self.segment_seconds}")
        for name in ("p_swap", "p_silence"):
            if not 0 <= getattr(self, name) <= 1:
                raise StemliveError(f"{name} must be within [0, 1], got {getattr(self, name)}")


def rms_db(x: np.ndarray) -> float:
    """RMS level of a signal in dBFS."""
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


class RemixDataset(torch.utils.data.IterableDataset):
    """An endless stream of (mixture (c, n), targets (s, c, n)) float32 tensors.

    Each stem comes from a random song and offset (or one song for all, without
    remix), with a random gain, maybe swapped channels, maybe silenced; a stem
    segment that is silent in its song is redrawn, so every target that should
    sound does. The mixture is the sum of the returned targets. Every torch
    DataLoader worker draws from its own generator, seeded by (seed, worker).
    """

    def __init__(
        self, tracks: list[Track], config: AugmentConfig = AugmentConfig(), seed: int = 0
    ) -> None:
        if not tracks:
            raise StemliveError("RemixDataset needs at least one song")
        rates = {t.sample_rate for t in tracks}
        if len(rates) != 1:
            raise StemliveError(
                f"songs with different sample rates {sorted(rates)}; resample them first"
            )
        self.tracks = tracks
        self.config = config
        self.seed = seed
        self.sample_rate = rates.pop()
        self.frames = int(round(config.segment_seconds * self.sample_rate))

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        while True:
            yield self.example(rng)

    def example(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One augmented example drawn with ``rng``."""
        cfg = self.config
        targets = np.zeros((len(STEMS), 2, self.frames), dtype=np.float32)
        shared = None if cfg.remix else self._pick(rng)
        for i, stem in enumerate(STEMS):
            if rng.random() < cfg.p_silence:
                continue
            segment = self._segment(rng, stem, shared)
            if segment is None:
                continue
            segment *= np.float32(10 ** (rng.uniform(-cfg.gain_db, cfg.gain_db) / 20))
            if rng.random() < cfg.p_swap:
                segment = segment[::-1]
            targets[i] = segment
        mixture = targets.sum(axis=0)
        return torch.from_numpy(mixture), torch.from_numpy(targets)

    def _pick(self, rng: np.random.Generator) -> tuple[Track, int]:
        track = self.tracks[rng.integers(len(self.tracks))]
        start = int(rng.integers(0, max(1, track.frames - self.frames)))
        return track, start

    def _segment(self, rng: np.random.Generator, stem: str, shared) -> np.ndarray | None:
        for _ in range(self.config.max_tries):
            track, start = self._pick(rng) if shared is None else shared
            x = track.read(stem, start, self.frames)
            if rms_db(x) > self.config.silent_db:
                return x
            if shared is not None:
                # Without remix the song is fixed: try another offset in it.
                shared = (track, int(rng.integers(0, max(1, track.frames - self.frames))))
        return None


class SegmentDataset(torch.utils.data.Dataset):
    """Fixed, unaugmented segments of every song, for validation: item i is
    (mixture (c, n), targets (s, c, n)), the mixture being the sum of the stems."""

    def __init__(self, tracks: list[Track], segment_seconds: float = 10.0) -> None:
        self.tracks = tracks
        self.index = []
        for t, track in enumerate(tracks):
            frames = int(round(segment_seconds * track.sample_rate))
            for start in range(0, max(1, track.frames - frames + 1), frames):
                self.index.append((t, start, min(frames, track.frames)))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        t, start, frames = self.index[i]
        targets = np.stack([self.tracks[t].read(s, start, frames) for s in STEMS])
        return torch.from_numpy(targets.sum(axis=0)), torch.from_numpy(targets)


def song_info(folder: Path) -> dict:
    """The generator's ``info.json`` of a synthetic song folder ({} for other songs)."""
    path = folder / "info.json"
    return json.loads(path.read_text()) if path.is_file() else {}
