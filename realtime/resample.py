"""A streaming resampler with a short, fixed delay: polyphase Kaiser-windowed sinc.

Between the device's rate and the model's, in the worker. Unlike soxr's streams,
which deliver in bursts of hundreds of samples, it gives out every sample as soon
as its last input is in: after ``T`` input samples exactly ``ceil(T * out / in)``
outputs have come out, the fractional phase carried from block to block, so
blocks of any size give the same output as one call. Output sample ``k`` is the
band-limited input at input time ``k * in / out - delay``: a fixed delay of
``delay`` input samples (half the filter), the same for every frequency.

The filter passes up to 20 kHz (or 91 % of the lower Nyquist rate below 44 kHz)
and stops from ``max(lo / 2, lo - 20 kHz)``, ``lo`` the lower of the two rates.
Above 40 kHz that lets what lies between 20 kHz and the lower Nyquist rate alias
or image only onto 20 kHz and up, where nothing is heard; everything landing in
0-20 kHz is attenuated by ``ATTENUATION_DB`` (see ``stemlive resamplebench``).
This halves the filter, and the delay, against stopping at the Nyquist rate.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from model.errors import StemliveError

AUDIBLE_HZ = 20000.0
ATTENUATION_DB = 100.0  # design value; measured: see `stemlive resamplebench`
MAX_PHASES = 1024  # rational ratios with more phases interpolate between these


def filter_edges(rate_in: int, rate_out: int) -> tuple[float, float]:
    """(passband edge, stopband edge) in Hz for a conversion between these rates."""
    lo = min(rate_in, rate_out)
    passband = min(AUDIBLE_HZ, 0.91 * lo / 2)
    stopband = max(lo / 2, lo - AUDIBLE_HZ)
    return passband, stopband


def _design(rate_in: int, rate_out: int, phases: int, atten_db: float) -> tuple[np.ndarray, int]:
    """The polyphase table (phases + 1 rows, ``2 * half`` taps) and ``half``, in input samples.

    Row ``p`` holds the kernel for an output ``p / phases`` of an input sample past
    the newest input it uses; each row sums to 1 (unity gain at DC for every phase).
    """
    passband, stopband = filter_edges(rate_in, rate_out)
    cutoff = 0.5 * (passband + stopband) / rate_in  # cycles per input sample
    width = 2 * math.pi * (stopband - passband) / rate_in  # radians per input sample
    beta = 0.1102 * (atten_db - 8.7)
    half = max(2, math.ceil(((atten_db - 7.95) / (2.285 * width) + 1) / 2))
    taps = 2 * half
    phase = np.arange(phases + 1)[:, None] / phases
    t = phase + half - 1 - np.arange(taps)[None, :]  # time from tap to output, input samples
    window = np.i0(beta * np.sqrt(np.clip(1.0 - (t / half) ** 2, 0.0, 1.0))) / np.i0(beta)
    table = 2 * cutoff * np.sinc(2 * cutoff * t) * window
    table /= table.sum(1, keepdims=True)
    return table, half


@njit(nogil=True, cache=True)
def _run(hist, n_valid, table, up, down, phases, q, out):  # pragma: no cover - compiled
    """Fill ``out`` (C, n) from ``hist`` (C, n_valid); returns the next output's ``q``.

    ``q`` is the next output's position in ``hist`` in 1/up input samples: its newest
    input is ``hist[:, q // up]``. The last taps-1 inputs are then moved to the front.
    """
    C = hist.shape[0]
    taps = table.shape[1]
    n = out.shape[1]
    exact = phases == up
    for k in range(n):
        base = q // up
        first = base - taps + 1
        ph = q - base * up
        if exact:
            for c in range(C):
                acc = 0.0
                for j in range(taps):
                    acc += hist[c, first + j] * table[ph, j]
                out[c, k] = acc
        else:
            pos = ph * phases
            row = pos // up
            fr = (pos - row * up) / up
            for c in range(C):
                acc = 0.0
                for j in range(taps):
                    g = (1.0 - fr) * table[row, j] + fr * table[row + 1, j]
                    acc += hist[c, first + j] * g
                out[c, k] = acc
        q += down
    shift = n_valid - (taps - 1)
    for c in range(C):
        for j in range(taps - 1):
            hist[c, j] = hist[c, shift + j]
    return q - shift * up


class Resampler:
    """Streaming ``rate_in -> rate_out`` of ``(C, n)`` float32 blocks; identity when equal."""

    def __init__(
        self,
        rate_in: int,
        rate_out: int,
        channels: int = 2,
        max_block: int = 8192,
        atten_db: float = ATTENUATION_DB,
    ) -> None:
        for r in (rate_in, rate_out):
            if not (isinstance(r, int | np.integer) and 1000 <= r <= 768000):
                raise StemliveError(f"resampler rates must be whole Hz in 1000..768000, not {r!r}")
        if channels < 1 or max_block < 1:
            raise StemliveError(
                f"resampler needs channels and max_block >= 1: {channels}, {max_block}"
            )
        self.rate_in, self.rate_out, self.channels = int(rate_in), int(rate_out), channels
        self.max_block = max_block
        g = math.gcd(self.rate_in, self.rate_out)
        self._up, self._down = self.rate_out // g, self.rate_in // g
        self.identity = self.rate_in == self.rate_out
        if self.identity:
            self.delay = 0
            return
        phases = self._up if self._up <= MAX_PHASES else MAX_PHASES
        self._phases = phases
        table, self.delay = _design(self.rate_in, self.rate_out, phases, atten_db)
        self._table = np.ascontiguousarray(table)
        self.taps = table.shape[1]
        self._hist = np.zeros((channels, self.taps - 1 + max_block), np.float64)
        self.reset()

    @property
    def delay_seconds(self) -> float:
        """The fixed delay: ``delay`` input samples."""
        return self.delay / self.rate_in

    @property
    def delay_out_samples(self) -> float:
        """The fixed delay in output samples (a fraction when the rates differ)."""
        return self.delay * self.rate_out / self.rate_in

    def reset(self) -> None:
        """Forget the signal: as if fed silence forever."""
        if self.identity:
            return
        self._hist[:, : self.taps - 1] = 0.0
        self._q = (self.taps - 1) * self._up  # output 0's newest input: the first one fed

    def output_count(self, n: int) -> int:
        """How many samples the next call with ``n`` input samples gives out."""
        if self.identity:
            return n
        end = (self.taps - 1 + n) * self._up
        return max(0, -(-(end - self._q) // self._down))

    def __call__(self, block: np.ndarray) -> np.ndarray:
        """(C, n) at rate_in -> (C, m) at rate_out, m = output_count(n); float32."""
        if self.identity:
            return block
        C, n = block.shape
        if C != self.channels or n > self.max_block:
            raise StemliveError(
                f"resampler block of shape {block.shape}: wants {self.channels} channels "
                f"and at most {self.max_block} samples"
            )
        out = np.empty((C, self.output_count(n)), np.float32)
        n_valid = self.taps - 1 + n
        self._hist[:, self.taps - 1 : n_valid] = block
        self._q = _run(
            self._hist, n_valid, self._table, self._up, self._down, self._phases, self._q, out
        )
        return out
