"""A song file as a live source: decoded ahead by a reader thread, played by the audio callback.

The reader decodes the file in chunks (resampling them to the stream's rate
with soxr) into one preallocated array and publishes how far it got; the
callback only copies from that array. Play, pause, seek and loop are plain
assignments read by the callback, so the GUI and CLI can call them any time.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from model.errors import AudioFileError

CHUNK_SECONDS = 2.0


def open_song(path: str | Path) -> sf.SoundFile:
    """Open a file soundfile reads, or raise AudioFileError naming it."""
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioFileError(f"{path}: not a readable audio file ({exc})") from None
    if f.frames <= 0:
        f.close()
        raise AudioFileError(f"{path}: the file holds no samples")
    return f


def to_channels(block: np.ndarray, channels: int) -> np.ndarray:
    """(n, c_in) -> (channels, n): mono is copied to every channel, more are folded in pairs."""
    c_in = block.shape[1]
    if c_in == channels:
        return block.T
    if c_in == 1:
        return np.repeat(block.T, channels, axis=0)
    return np.stack([block[:, i::channels].mean(1) for i in range(channels)])


class FilePlayer:
    """One song at the stream's rate; ``fill()`` is the callback's side."""

    def __init__(self, path: str | Path, rate: int, channels: int = 2) -> None:
        self.path = Path(path)
        self._file = open_song(self.path)
        self.file_rate = self._file.samplerate
        self.rate, self.channels = rate, channels
        self.length = int(np.ceil(self._file.frames * rate / self.file_rate))
        self.audio = np.zeros((channels, self.length), np.float32)
        self.decoded = 0  # frames ready in ``audio`` (reader only)
        self.error: str | None = None  # set by the reader when the file breaks mid-way
        self.nonfinite = 0
        self.pos = 0  # next frame to play (callback, or seek)
        self._seek_to: int | None = None
        self.playing = True
        self.loop = False
        self.ended = False  # reached the end without looping (callback sets, engine reports)
        self._stop = False
        self._thread = threading.Thread(target=self._decode, name="stemlive-reader", daemon=True)
        self._thread.start()

    @property
    def duration_s(self) -> float:
        return self.length / self.rate

    def position_s(self) -> float:
        return self.pos / self.rate

    def seek(self, seconds: float) -> None:
        self._seek_to = int(min(max(seconds, 0.0), self.duration_s) * self.rate)
        self.ended = False

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=5)

    def wait_decoded(self, timeout: float = 60.0) -> bool:
        """Block until the whole file is decoded (tests, offline use)."""
        self._thread.join(timeout)
        return self.decoded >= self.length or self.error is not None

    def _decode(self) -> None:
        resampler = None
        if self.file_rate != self.rate:
            resampler = soxr.ResampleStream(
                self.file_rate, self.rate, self._file.channels, dtype="float32", quality="HQ"
            )
        chunk = int(CHUNK_SECONDS * self.file_rate)
        try:
            with self._file as f:
                while not self._stop:
                    block = f.read(chunk, dtype="float32", always_2d=True)
                    last = block.shape[0] < chunk
                    if resampler is not None:
                        block = resampler.resample_chunk(block, last=last)
                    bad = ~np.isfinite(block)
                    if bad.any():
                        self.nonfinite += int(bad.sum())
                        block = np.where(bad, 0.0, block).astype(np.float32)
                    n = min(block.shape[0], self.length - self.decoded)
                    if n > 0:
                        self.audio[:, self.decoded : self.decoded + n] = to_channels(
                            block[:n], self.channels
                        )
                        self.decoded += n
                    if last:
                        break
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            self.error = f"{self.path}: decoding failed after {self.decoded} frames ({exc})"
        if self.error is None and not self._stop:
            self.length = self.decoded  # the resampler may give a frame fewer than estimated

    # -- callback side ---------------------------------------------------------------
    def fill(self, out: np.ndarray, frames: int) -> None:
        """Write the next ``frames`` of the song into out[:, :frames] (silence when paused)."""
        if self._seek_to is not None:
            self.pos, self._seek_to = self._seek_to, None
        if not self.playing or self.ended:
            out[:, :frames] = 0.0
            return
        done = 0
        while done < frames:
            if self.pos >= self.length:
                if self.loop and self.length > 0:
                    self.pos = 0
                else:
                    self.ended = True
                    break
            take = min(frames - done, self.length - self.pos, max(0, self.decoded - self.pos))
            if take <= 0:  # the reader is behind (or failed): silence, not a stall
                break
            out[:, done : done + take] = self.audio[:, self.pos : self.pos + take]
            self.pos += take
            done += take
        out[:, done:frames] = 0.0
