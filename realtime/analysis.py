"""What the GUI draws, computed on the worker: levels and spectrogram columns.

The worker writes; readers copy. A reader may see a column half-written
while the worker updates it; it never sees a torn array shape, and the
column count is bumped only after a column is complete.
"""

from __future__ import annotations

import numpy as np

FLOOR_DB = -120.0


class Analyser:
    """Peak/RMS per source and a history of dB spectrogram columns, one column per ``hop``."""

    def __init__(
        self,
        sources: tuple[str, ...],
        rate: int,
        n_fft: int = 1024,
        hop: int = 512,
        history: int = 32,
    ) -> None:
        self.sources = tuple(sources)
        self.rate, self.n_fft, self.hop = rate, n_fft, hop
        self.freqs = np.fft.rfftfreq(n_fft, 1.0 / rate).astype(np.float32)
        self.column_seconds = hop / rate
        self._window = np.hanning(n_fft).astype(np.float32)
        self._scale = 2.0 / self._window.sum()  # a full-scale sine reads 0 dB
        self._buf = np.zeros((len(sources), n_fft), np.float32)  # mono, latest n_fft samples
        self._since = 0  # samples since the last column
        self.history = np.full((len(sources), history, len(self.freqs)), FLOOR_DB, np.float32)
        self.count = 0  # columns made since start
        self.peak = np.zeros(len(sources), np.float32)
        self.rms = np.zeros(len(sources), np.float32)

    def process(self, blocks: np.ndarray) -> None:
        """blocks: (sources, channels, n) of the same instant."""
        n = blocks.shape[-1]
        if n == 0:
            return
        self.peak = np.abs(blocks).max(axis=(1, 2))
        self.rms = np.sqrt(np.mean(np.square(blocks), axis=(1, 2)))
        mono = blocks.mean(axis=1)
        pos = 0
        while pos < n:
            take = min(n - pos, self.hop - self._since)
            self._buf[:, :-take] = self._buf[:, take:]
            self._buf[:, -take:] = mono[:, pos : pos + take]
            self._since += take
            pos += take
            if self._since == self.hop:
                self._since = 0
                self._column()

    def _column(self) -> None:
        mag = np.abs(np.fft.rfft(self._buf * self._window, axis=-1)) * self._scale
        col = 20.0 * np.log10(np.maximum(mag, 1e-6))
        t = self.count % self.history.shape[1]
        self.history[:, t] = col
        self.count += 1

    def columns(self) -> np.ndarray:
        """(sources, t, f) dB, oldest first (a copy)."""
        t = self.count % self.history.shape[1]
        return np.concatenate([self.history[:, t:], self.history[:, :t]], axis=1)
