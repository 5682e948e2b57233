"""The effects rack: a chain per stem, the key shift of the accompaniment, a master chain.

Signal path at the model's rate (``n`` frames a block, ``C`` channels)::

    stems (S, C, n) -> chain per stem -> delay to the slowest chain (A) -> mixer --+
    dry (the original, for bypass) -> delay A ---------------------------------> --+
      mixer -> accompaniment bus (every stem but vocals) -> key shift (K) ----------+-> master
            -> vocals + dry bus -> delay K -----------------------------------------+   chain (M)

The rack's latency ``A + K + M`` is fixed when it is built: K is there only
when the key shift is armed (any key, 0 included, once armed). Parameter and
bypass changes from other threads go through a queue that the worker drains
and coalesces at the start of each block: no thread writes into a plugin while
it processes. A slot that raises is bypassed (its latency kept) with an event.
The same rack renders whole files offline (``render``): same sound as live.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

from realtime.fx import MASTER, ChainSpec, Slot
from realtime.keyshift import KeyShifter
from realtime.ring import DelayLine, RingBuffer

VOCALS = "vocals"


@dataclass(frozen=True)
class RackEvent:
    kind: str  # "error" or "info"
    message: str


class ConstantMix:
    """The mixer's interface with fixed linear gains per stem (offline `separate --mix`)."""

    def __init__(self, gains: np.ndarray) -> None:
        self.gains = np.append(np.asarray(gains, np.float32), 0.0)

    def process(self, stems: np.ndarray, dry: np.ndarray) -> np.ndarray:
        return np.tensordot(self.gains[:-1], stems, axes=1).astype(np.float32)

    def process_split(self, stems, dry, group):
        g = self.gains[:-1]
        a = np.tensordot(np.where(group, g, 0.0), stems, axes=1).astype(np.float32)
        b = np.tensordot(np.where(group, 0.0, g), stems, axes=1).astype(np.float32)
        return a, b


class FxRack:
    """Chains and key shift for ``stems`` at ``rate``, blocks up to ``max_block`` frames."""

    def __init__(
        self,
        stems: tuple[str, ...],
        spec: ChainSpec | None,
        rate: int,
        channels: int,
        max_block: int,
        key: int | None = None,
        reblock: bool = False,
    ) -> None:
        spec = spec or {}
        self.stems = tuple(stems)
        self.spec = dict(spec)
        self.rate, self.channels, self.max_block = rate, channels, max_block
        self.key = key
        self.chains: dict[str, list[Slot]] = {
            t: [Slot(s, rate, channels, max_block) for s in spec.get(t, ())]
            for t in (*self.stems, MASTER)
        }
        lat = {t: sum(s.latency for s in slots) for t, slots in self.chains.items()}
        self.stem_latency = max((lat[s] for s in self.stems), default=0)
        self.master_latency = lat[MASTER]
        self.shifter = None if key is None else KeyShifter(rate, channels, max_block, key)
        self.key_latency = self.shifter.latency if self.shifter else 0
        self.empty = not any(self.chains.values()) and self.shifter is None
        # Blocks of varying size (the worker's, when resampling) are cut into blocks of
        # exactly max_block; the remainder waits, so the output lags by up to max_block-1.
        self.reblock = reblock and not self.empty
        self.reblock_latency = max_block - 1 if self.reblock else 0
        self.latency = (
            self.stem_latency + self.key_latency + self.master_latency + self.reblock_latency
        )
        S = len(self.stems)
        if self.reblock:
            cap = 8 * max_block + 16384
            self._in = RingBuffer((S + 1) * channels, cap)
            self._outq = RingBuffer((S + 1) * channels, cap)
            self._blk = np.zeros(((S + 1) * channels, max_block), np.float32)
            self._res = np.zeros(((S + 1) * channels, cap), np.float32)
        self._align = [
            DelayLine(channels, self.stem_latency - lat[s], max_block) for s in self.stems
        ]
        self._dry_align = DelayLine(channels, self.stem_latency, max_block)
        self._key_delay = DelayLine(channels, self.key_latency, max_block)
        self._acc = np.array([s != VOCALS for s in self.stems])
        self._stems = np.zeros((len(self.stems), channels, max_block), np.float32)
        self._dry = np.zeros((channels, max_block), np.float32)
        self._rest = np.zeros((channels, max_block), np.float32)
        self._pending: collections.deque = collections.deque()
        self.events: collections.deque[RackEvent] = collections.deque(maxlen=100)
        self.reset()

    # -- control (any thread) -------------------------------------------------------------------
    def set_param(self, target: str, index: int, name: str, value: float) -> None:
        """Queue a parameter write for the worker; later writes to the same one win."""
        self._pending.append(((target, index, name), value))

    def set_bypass(self, target: str, index: int, on: bool) -> None:
        self._pending.append(((target, index, "bypass"), bool(on)))

    def set_key(self, semitones: int) -> None:
        if self.shifter is not None:
            self.shifter.semitones = int(semitones)

    def slot(self, target: str, index: int) -> Slot:
        return self.chains[target][index]

    # -- audio (the worker) -----------------------------------------------------------------------
    def _drain(self) -> None:
        if not self._pending:
            return
        latest = {}
        while self._pending:
            key, value = self._pending.popleft()
            latest[key] = value  # coalesce: one write per parameter per block
        for (target, index, name), value in latest.items():
            try:
                slot = self.chains[target][index]
                if name == "bypass":
                    slot.bypass = value
                else:
                    slot.set_param(name, value)
            except Exception as exc:  # noqa: BLE001 - a bad write is reported, never raised
                self.events.append(
                    RackEvent("error", f"{target} slot {index + 1}: cannot set {name}: {exc}")
                )

    def _run(self, target: str, index: int, slot: Slot, x: np.ndarray) -> np.ndarray:
        try:
            return slot.process(x)
        except Exception as exc:  # noqa: BLE001 - the worker never raises: bypass the slot
            slot.failed = f"{type(exc).__name__}: {exc}"
            self.events.append(
                RackEvent(
                    "error",
                    f"{target} slot {index + 1} ({slot.info.label}) failed and is bypassed: "
                    f"{slot.failed}",
                )
            )
            return slot._dry_out[:, : x.shape[1]]

    def process(self, stems: np.ndarray, dry: np.ndarray, mixer) -> tuple[np.ndarray, np.ndarray]:
        """(S, C, n) stems and (C, n) dry -> ((C, n) mix, (S, C, n) processed stems).

        ``mixer`` has ``process(stems, dry)`` and ``process_split(stems, dry, group)``
        (``realtime.mixer.Mixer`` live, ``ConstantMix`` offline).
        """
        if self.empty:
            return mixer.process(stems, dry), stems
        if self.reblock:
            return self._process_reblocked(stems, dry, mixer)
        return self._process_block(stems, dry, mixer)

    def _process_reblocked(self, stems, dry, mixer) -> tuple[np.ndarray, np.ndarray]:
        S, C, n = stems.shape
        self._in.write(np.concatenate([stems.reshape(S * C, n), dry], 0))
        q = self.max_block
        while self._in.available() >= q:
            self._in.read_into(self._blk)
            b = self._blk
            mix, st = self._process_block(b[: S * C].reshape(S, C, q), b[S * C :], mixer)
            self._outq.write(np.concatenate([st.reshape(S * C, q), mix], 0))
        res = self._res[:, :n]
        got = self._outq.read_into(res, n)
        if got < n:  # cannot happen with the primed queue; silence rather than a crash
            res[:, got:] = 0.0
        return res[S * C :].copy(), res[: S * C].reshape(S, C, n)

    def _process_block(self, stems, dry, mixer) -> tuple[np.ndarray, np.ndarray]:
        self._drain()
        n = dry.shape[1]
        out = self._stems[:, :, :n]
        for i, name in enumerate(self.stems):
            y = stems[i]
            for j, slot in enumerate(self.chains[name]):
                y = self._run(name, j, slot, y)
            self._align[i].process(y, out[i])
        dry_d = self._dry[:, :n]
        self._dry_align.process(dry, dry_d)
        if self.shifter is not None:
            acc, rest = mixer.process_split(out, dry_d, self._acc)
            mix = self.shifter.process(acc).copy()
            rest_d = self._rest[:, :n]
            self._key_delay.process(rest, rest_d)
            mix += rest_d
        else:
            mix = mixer.process(out, dry_d)
        for j, slot in enumerate(self.chains[MASTER]):
            mix = self._run(MASTER, j, slot, mix)
        return np.array(mix, np.float32), out

    def release(self) -> None:
        """Done with this rack: its VST3 instances go back to the pool for the next one."""
        for slots in self.chains.values():
            for s in slots:
                s.release()

    def reset(self) -> None:
        """Forget the audio (a new stream, a resync); parameters stay."""
        self._drain()
        for slots in self.chains.values():
            for s in slots:
                s.reset()
        for d in (*self._align, self._dry_align, self._key_delay):
            d.reset()
        if self.shifter is not None:
            self.shifter.reset()
        if self.reblock:
            self._in.skip(self._in.available())
            self._outq.skip(self._outq.available())
            self._outq.write_zeros(self.reblock_latency)

    # -- offline -------------------------------------------------------------------------------
    def render(self, stems: np.ndarray, gains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(S, C, n) stems, (S,) linear gains -> ((S, C, n) processed stems, (C, n) mix).

        Streamed in ``max_block`` blocks through the same code as live, then the
        rack's latency is taken off, so the outputs line up with the input.
        """
        self.reset()
        S, C, n = stems.shape
        total = -(-(n + self.latency) // self.max_block) * self.max_block  # whole blocks
        padded = np.zeros((S, C, total), np.float32)
        padded[:, :, :n] = stems
        mix_fn = ConstantMix(gains)
        out_stems = np.zeros_like(padded)
        out_mix = np.zeros((C, total), np.float32)
        zeros = np.zeros((C, self.max_block), np.float32)
        for i in range(0, total, self.max_block):
            m = min(self.max_block, total - i)
            mix, st = self.process(padded[:, :, i : i + m], zeros[:, :m], mix_fn)
            out_stems[:, :, i : i + m] = st
            out_mix[:, i : i + m] = mix
        a = self.stem_latency
        return out_stems[:, :, a : a + n], out_mix[:, self.latency : self.latency + n]

    def events_since(self) -> list[RackEvent]:
        out = []
        while self.events:
            out.append(self.events.popleft())
        return out
