"""The engine process's meters, spectrogram columns and counters in one shared-memory block.

The engine process writes a ``GuiSnapshot`` into the block about 60 times a
second; the window copies it out on its own timer. No audio is pickled: the
spectrogram columns are float32 arrays in place, the few scalars and names a
small JSON text. A sequence counter (a seqlock) guards every write: odd while
the writer is in the middle, bumped again when done; a reader that saw it odd
or changed tries again, so it never returns a torn frame.

Layout (``k`` source, ``t`` column, ``f`` bin)::

    u64 seq | u64 meta bytes | u64 has spectrogram | u64 heartbeat
    f32 columns[k, t, f] | f32 freqs[f] | meta JSON (up to META_BYTES)
"""

from __future__ import annotations

import json
import time
from dataclasses import fields
from multiprocessing import shared_memory

import numpy as np

from gui.engine_api import GuiSnapshot, Levels

HISTORY = 32  # columns: realtime.analysis.Analyser's default history
BINS = 513  # its n_fft of 1024
META_BYTES = 16384
_HEAD = 4 * 8
_ARRAYS = {"spectrogram", "spectrogram_freqs"}


class SnapshotBlock:
    """One engine's block: ``create`` (the window's side, which owns it) or ``attach``."""

    def __init__(self, shm: shared_memory.SharedMemory, sources: int, owner: bool) -> None:
        self.shm, self.sources, self.owner = shm, sources, owner
        buf = shm.buf
        self._head = np.ndarray((4,), np.uint64, buf, 0)
        off = _HEAD
        self._cols = np.ndarray((sources, HISTORY, BINS), np.float32, buf, off)
        off += self._cols.nbytes
        self._freqs = np.ndarray((BINS,), np.float32, buf, off)
        off += self._freqs.nbytes
        self._meta = np.ndarray((META_BYTES,), np.uint8, buf, off)
        self._last = GuiSnapshot()
        self.torn_retries = 0  # reads that met a write in progress and tried again

    @staticmethod
    def size(sources: int) -> int:
        return _HEAD + 4 * sources * HISTORY * BINS + 4 * BINS + META_BYTES

    @classmethod
    def create(cls, sources: int) -> SnapshotBlock:
        shm = shared_memory.SharedMemory(create=True, size=cls.size(sources))
        block = cls(shm, sources, owner=True)
        block._head[:] = 0
        return block

    @classmethod
    def attach(cls, name: str, sources: int) -> SnapshotBlock:
        # Attaching registers the name with the resource tracker again; the engine process
        # shares the window's tracker (forkserver), where one name is one entry, and the
        # window's unlink removes it.
        return cls(shared_memory.SharedMemory(name=name), sources, owner=False)

    @property
    def name(self) -> str:
        return self.shm.name

    # -- the engine's side -------------------------------------------------------------
    def write(self, snap: GuiSnapshot) -> None:
        """Publish one snapshot (one writer only)."""
        meta = {f.name: getattr(snap, f.name) for f in fields(snap) if f.name not in _ARRAYS}
        meta["levels"] = {k: [v.peak, v.rms] for k, v in snap.levels.items()}
        text = json.dumps(meta).encode()
        if len(text) > META_BYTES:
            raise ValueError(f"snapshot metadata of {len(text)} bytes exceeds {META_BYTES}")
        cols, freqs = snap.spectrogram, snap.spectrogram_freqs
        has = cols is not None and freqs is not None and cols.shape == self._cols.shape
        head = self._head
        head[0] += 1  # odd: writing
        if has:
            self._cols[:] = cols
            self._freqs[:] = freqs
        self._meta[: len(text)] = np.frombuffer(text, np.uint8)
        head[1] = len(text)
        head[2] = int(has)
        head[0] += 1  # even: done

    def beat(self) -> None:
        """Count one turn of the publishing loop, whether or not it could write a frame."""
        self._head[3] += 1

    # -- the window's side ---------------------------------------------------------------
    @property
    def heartbeat(self) -> int:
        """Turns of the engine's publishing loop so far: still means the engine hangs."""
        return int(self._head[3])

    def read(self, tries: int = 20) -> GuiSnapshot:
        """The latest complete snapshot (the previous one if the writer kept it busy)."""
        head = self._head
        for _ in range(tries):
            seq = int(head[0])
            if seq == 0:
                return self._last  # nothing written yet
            if seq & 1:
                self.torn_retries += 1
                time.sleep(0.0001)
                continue
            n, has = int(head[1]), bool(head[2])
            text = self._meta[:n].tobytes()
            cols = self._cols.copy() if has else None
            freqs = self._freqs.copy() if has else None
            if int(head[0]) != seq:
                self.torn_retries += 1
                continue
            meta = json.loads(text)
            levels = {k: Levels(*v) for k, v in meta.pop("levels").items()}
            for k in ("spectrogram_sources", "outputs", "output_ports"):
                meta[k] = tuple(meta[k])
            self._last = GuiSnapshot(
                **{**meta, "levels": levels, "spectrogram": cols, "spectrogram_freqs": freqs}
            )
            return self._last
        return self._last

    def close(self) -> None:
        """Let go of the block; the owner also removes it."""
        self._head = self._cols = self._freqs = self._meta = None
        self.shm.close()
        if self.owner:
            self.shm.unlink()
