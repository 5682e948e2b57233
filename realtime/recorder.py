"""Recording the remix and each stem to WAV on a writer thread.

The worker hands each block over with ``push()``: a put on an unbounded
queue, which never blocks and never drops. The writer thread appends the
blocks to float WAV files and closes them when ``close()`` is called, after
writing everything that was pushed before. Every ``HEADER_EVERY_S`` of audio
it rewrites each file's header (libsndfile writes straight to the kernel), so
a process killed mid-recording leaves WAV files that read back up to at most
that much before the kill.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from model.errors import StemliveError

HEADER_EVERY_S = 0.25
_SFC_UPDATE_HEADER_NOW = 0x1060  # sndfile.h; soundfile does not name it


def new_take_folder(root: Path) -> Path:
    """A new folder under ``root`` named by the time, never an existing one."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        folder = root / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise StemliveError(f"{root}: cannot make a new recording folder")


class Recorder:
    """Writes ``mix.wav`` and/or ``<stem>.wav`` into ``folder`` at ``rate``."""

    def __init__(
        self,
        folder: Path,
        rate: int,
        channels: int,
        stems: tuple[str, ...],
        record_stems: bool = True,
        record_mix: bool = True,
        record_monitor: bool = False,
    ) -> None:
        if not (record_stems or record_mix):
            raise StemliveError("nothing to record: neither the mix nor the stems")
        self.folder = Path(folder)
        self.stems = stems if record_stems else ()
        self.record_mix = record_mix
        self.record_monitor = record_monitor
        names = (["mix"] if record_mix else []) + (["monitor"] if record_monitor else [])
        names += list(self.stems)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._files = {
                n: sf.SoundFile(
                    str(self.folder / f"{n}.wav"),
                    "w",
                    rate,
                    channels,
                    subtype="FLOAT",
                    format="WAV",
                )
                for n in names
            }
        except (OSError, sf.LibsndfileError) as exc:
            raise StemliveError(f"{self.folder}: cannot record there ({exc})") from None
        self.frames = 0
        self._header_every = max(1, int(HEADER_EVERY_S * rate))
        self._header_at = self._header_every
        self.error: str | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="stemlive-writer", daemon=True)
        self._thread.start()

    def push(self, mix: np.ndarray, stems: np.ndarray, monitor: np.ndarray | None = None) -> None:
        """Queue one block: mix (C, n), stems (S, C, n), the monitor mix (C, n) if any.

        Never blocks (worker side).
        """
        self._queue.put(
            (
                mix.copy() if self.record_mix else None,
                stems.copy() if self.stems else None,
                monitor.copy() if self.record_monitor and monitor is not None else None,
            )
        )

    def close(self) -> list[Path]:
        """Write what is queued, close the files; returns their paths."""
        self._queue.put(None)
        self._thread.join()
        return [Path(f.name) for f in self._files.values()]

    def _write(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            mix, stems, monitor = item
            if self.error is not None:
                continue  # keep draining so that the worker's memory does not grow
            try:
                if mix is not None:
                    self._files["mix"].write(mix.T)
                if monitor is not None:
                    self._files["monitor"].write(monitor.T)
                if stems is not None:
                    for i, s in enumerate(self.stems):
                        self._files[s].write(stems[i].T)
                self.frames += (mix if mix is not None else stems[0]).shape[1]
                if self.frames >= self._header_at:
                    self._header_at = self.frames + self._header_every
                    for f in self._files.values():
                        sf._snd.sf_command(f._file, _SFC_UPDATE_HEADER_NOW, sf._ffi.NULL, 0)
            except (OSError, sf.LibsndfileError) as exc:  # disk full, folder gone
                self.error = f"recording to {self.folder} failed: {exc}"
        for f in self._files.values():
            f.close()
