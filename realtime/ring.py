"""A single-producer, single-consumer ring buffer of multichannel float32 audio.

One thread writes, one other thread reads; neither ever waits or takes a lock.
The write and read positions are monotonic Python ints: only the writer moves
``_written`` and only the reader moves ``_read``, and each assignment of an int
attribute is atomic under the interpreter lock. The writer fills the samples
before it publishes the new position, so a reader never sees unfilled samples.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """``capacity`` frames of ``channels`` channels; counts what did not fit or was missing."""

    def __init__(self, channels: int, capacity: int) -> None:
        if channels < 1 or capacity < 1:
            raise ValueError(f"need channels >= 1 and capacity >= 1, got {channels}, {capacity}")
        self.channels, self.capacity = channels, capacity
        self._buf = np.zeros((channels, capacity), np.float32)
        self._written = 0  # frames ever written (writer only)
        self._read = 0  # frames ever read or skipped (reader only)
        self.overflows = 0  # writes that did not fit (writer only), in frames dropped
        self.underflows = 0  # reads asked for more than there was (reader only), in frames

    # -- either side -----------------------------------------------------------------
    def available(self) -> int:
        """Frames ready to read."""
        return self._written - self._read

    def space(self) -> int:
        """Frames that can be written without dropping any."""
        return self.capacity - (self._written - self._read)

    # -- writer ----------------------------------------------------------------------
    def write(self, block: np.ndarray) -> int:
        """Append (channels, n); what does not fit is dropped and counted. Returns frames kept."""
        n = min(block.shape[1], self.space())
        if n < block.shape[1]:
            self.overflows += block.shape[1] - n
        self._copy_in(block[:, :n], self._written)
        self._written += n
        return n

    def write_zeros(self, n: int) -> int:
        """Append ``n`` frames of silence (dropping and counting what does not fit)."""
        take = min(n, self.space())
        if take < n:
            self.overflows += n - take
        start = self._written % self.capacity
        first = min(take, self.capacity - start)
        self._buf[:, start : start + first] = 0.0
        self._buf[:, : take - first] = 0.0
        self._written += take
        return take

    def _copy_in(self, block: np.ndarray, pos: int) -> None:
        n = block.shape[1]
        start = pos % self.capacity
        first = min(n, self.capacity - start)
        self._buf[:, start : start + first] = block[:, :first]
        self._buf[:, : n - first] = block[:, first:]

    # -- reader ----------------------------------------------------------------------
    def read_into(self, out: np.ndarray, n: int | None = None) -> int:
        """Move up to ``n`` frames (default: out's width) into ``out[:, :got]``; returns got.

        A short read is counted in ``underflows``; ``out`` past ``got`` is untouched.
        """
        want = out.shape[1] if n is None else n
        got = min(want, self.available())
        if got < want:
            self.underflows += want - got
        start = self._read % self.capacity
        first = min(got, self.capacity - start)
        out[:, :first] = self._buf[:, start : start + first]
        out[:, first:got] = self._buf[:, : got - first]
        self._read += got
        return got

    def read(self, n: int) -> np.ndarray:
        """Up to ``n`` frames as a new array (the worker side; the callback uses read_into)."""
        out = np.empty((self.channels, min(n, self.available())), np.float32)
        self.read_into(out)
        return out

    def skip(self, n: int) -> int:
        """Discard up to ``n`` frames without copying; returns how many were discarded."""
        got = min(n, self.available())
        self._read += got
        return got


class DelayLine:
    """Delays (channels, n) blocks by a fixed ``delay`` frames; one thread uses it."""

    def __init__(self, channels: int, delay: int, max_block: int) -> None:
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")
        self.delay, self.max_block = delay, max_block
        self._cap = delay + max_block
        self._buf = np.zeros((channels, self._cap), np.float32)
        self._w = 0

    def reset(self) -> None:
        self._buf.fill(0.0)

    def process(self, block: np.ndarray, out: np.ndarray) -> None:
        """Write ``block`` and put the block ``delay`` frames older into ``out[:, :n]``."""
        n = block.shape[1]
        if n > self.max_block:
            raise ValueError(f"block of {n} exceeds the delay line's {self.max_block}")
        cap = self._cap
        w = self._w % cap
        first = min(n, cap - w)
        self._buf[:, w : w + first] = block[:, :first]
        self._buf[:, : n - first] = block[:, first:]
        r = (self._w - self.delay) % cap
        first = min(n, cap - r)
        out[:, :first] = self._buf[:, r : r + first]
        out[:, first:n] = self._buf[:, : n - first]
        self._w += n
