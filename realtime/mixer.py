"""The stem mixer: per-stem gain in dB, mute, solo, master, and a bypass to the original.

Parameters are plain attribute assignments (any thread may set them; the worker
reads them once per block). Every change of the effective gains is ramped
linearly over ``ramp`` samples, so no fader move, mute or bypass clicks.
"""

from __future__ import annotations

import math

import numpy as np


def db_to_gain(db: float) -> float:
    """dB to a linear factor; ``-inf`` is silence."""
    return 0.0 if db == -math.inf else float(10.0 ** (db / 20.0))


class Mixer:
    """Mixes (stems, channels, n) and the latency-aligned dry (channels, n) to (channels, n)."""

    MAX_DB = 12.0

    def __init__(self, stems: tuple[str, ...], ramp: int) -> None:
        self.stems = tuple(stems)
        self.ramp = max(1, int(ramp))
        self._gain_db = dict.fromkeys(self.stems, 0.0)
        self._mute = dict.fromkeys(self.stems, False)
        self._solo = dict.fromkeys(self.stems, False)
        self._master_db = 0.0
        self._bypass = False
        self.reset()

    # -- parameters ------------------------------------------------------------------
    def _check(self, stem: str) -> None:
        if stem not in self._gain_db:
            raise ValueError(f"unknown stem {stem!r}; stems are {', '.join(self.stems)}")

    def set_gain_db(self, stem: str, db: float) -> None:
        self._check(stem)
        if math.isnan(db) or db > self.MAX_DB:
            raise ValueError(f"gain must be -inf..{self.MAX_DB} dB, not {db}")
        self._gain_db[stem] = float(db)

    def gain_db(self, stem: str) -> float:
        self._check(stem)
        return self._gain_db[stem]

    def set_mute(self, stem: str, on: bool) -> None:
        self._check(stem)
        self._mute[stem] = bool(on)

    def mute(self, stem: str) -> bool:
        self._check(stem)
        return self._mute[stem]

    def set_solo(self, stem: str, on: bool) -> None:
        self._check(stem)
        self._solo[stem] = bool(on)

    def solo(self, stem: str) -> bool:
        self._check(stem)
        return self._solo[stem]

    def set_master_db(self, db: float) -> None:
        if math.isnan(db) or db > self.MAX_DB:
            raise ValueError(f"master gain must be -inf..{self.MAX_DB} dB, not {db}")
        self._master_db = float(db)

    def master_db(self) -> float:
        return self._master_db

    def set_bypass(self, on: bool) -> None:
        self._bypass = bool(on)

    def bypass(self) -> bool:
        return self._bypass

    def audible(self) -> dict[str, bool]:
        """Which stems are heard: solo wins over mute; no solo means every unmuted stem."""
        soloed = any(self._solo.values())
        return {
            s: (self._solo[s] if soloed else not self._mute[s]) and self._gain_db[s] > -math.inf
            for s in self.stems
        }

    def targets(self) -> np.ndarray:
        """Linear gains the mix is heading for: one per stem, then the dry signal's."""
        master = db_to_gain(self._master_db)
        heard = self.audible()
        if self._bypass:
            stems = [0.0] * len(self.stems)
            dry = master
        else:
            stems = [db_to_gain(self._gain_db[s]) * master if heard[s] else 0.0 for s in self.stems]
            dry = 0.0
        return np.array([*stems, dry], np.float32)

    # -- audio (worker thread) -----------------------------------------------------------
    def reset(self) -> None:
        """Jump to the current targets (at stream start: nothing to ramp from)."""
        self._value = self._from = self._to = self.targets()
        self._pos = self.ramp

    def process(self, stems: np.ndarray, dry: np.ndarray) -> np.ndarray:
        """(S, C, n) stems and (C, n) dry -> (C, n) mix, gains ramped linearly to new targets."""
        gains = self._gains(dry.shape[1])
        return _weighted(gains, stems, dry)

    def process_split(
        self, stems: np.ndarray, dry: np.ndarray, group: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like ``process``, as two (C, n) buses: the stems where ``group`` (S,) is true, and
        the rest with the dry. Their sum is ``process``'s mix (the key shift's accompaniment)."""
        gains = self._gains(dry.shape[1])
        keep = np.append(group, False).astype(np.float32)
        keep = keep[:, None] if gains.ndim == 2 else keep
        return _weighted(gains * keep, stems, 0.0 * dry), _weighted(gains * (1 - keep), stems, dry)

    def _gains(self, n: int) -> np.ndarray:
        """(S+1,) constant gains, or (S+1, n) while a ramp runs; advances the ramp."""
        target = self.targets()
        if not np.array_equal(target, self._to):  # a new ramp from wherever the gains are now
            self._from, self._to, self._pos = self._value, target, 0
        if self._pos >= self.ramp:
            return self._to
        frac = np.minimum((self._pos + np.arange(1, n + 1, dtype=np.float32)) / self.ramp, 1.0)
        gains = self._from[:, None] + (self._to - self._from)[:, None] * frac  # (S+1, n)
        self._pos += n
        self._value = gains[:, -1].copy()
        return gains


def _weighted(gains: np.ndarray, stems: np.ndarray, dry: np.ndarray | float) -> np.ndarray:
    """(S+1,) or (S+1, n) gains over (S, C, n) stems and the (C, n) dry -> (C, n)."""
    if gains.ndim == 1:
        mix = np.tensordot(gains[:-1], stems, axes=1) + gains[-1] * dry
    else:
        mix = np.einsum("sn,scn->cn", gains[:-1], stems) + gains[-1] * dry
    return mix.astype(np.float32, copy=False)
