"""MIDI control: a controller's knobs, faders and pads mapped to the mixer, the key and effects.

A *binding* is one kind of message: a control change (``cc``) or a note-on
(``note``) on one channel, with one controller or note number. A *map* sends
bindings to targets::

    gain:<stem>  master  key  fx:<stem or master>:<slot>    (continuous, 0..127)
    mute:<stem>  solo:<stem>  bypass                         (toggles)

``fx`` turns the slot's main parameter (the first listed; slots count from 1).
A note toggles a switch; a CC switches it on at 64 and up, off below. A map
file is JSON: ``{"bindings": [{"type": "cc", "channel": 1, "number": 1,
"target": "gain:vocals"}, ...]}`` (channels 1..16 as controllers print them).

Ports are read with python-rtmidi, on whichever MIDI system has
them: ALSA's sequencer, or JACK's MIDI (a machine with no ALSA sequencer, the
tests). rtmidi calls back on its own thread; the callback only looks the
binding up and calls the engine's lock-free setters, and never raises.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from model.errors import StemliveError

APIS = ("LINUX_ALSA", "UNIX_JACK")  # rtmidi's names; tried in this order
CLIENT_NAME = "stemlive"
CONTINUOUS = ("gain", "master", "key", "fx")
TOGGLES = ("mute", "solo", "bypass")
FADER_MIN_DB, FADER_MAX_DB = -60.0, 6.0  # the window's fader range; 0 is off
UNITY_VALUE = 100  # the CC value that is 0 dB: a fader at 100 of 127 leaves the stem as it is
KINDS = ("cc", "note")


# -- bindings and targets ----------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Binding:
    """One kind of message: ``kind`` "cc" or "note", ``channel`` 0..15, ``number`` 0..127."""

    kind: str
    channel: int
    number: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise StemliveError(f"MIDI binding type must be cc or note, not {self.kind!r}")
        if not 0 <= self.channel <= 15 or not 0 <= self.number <= 127:
            raise StemliveError(f"MIDI channel 1..16 and number 0..127, not {self}")

    def label(self) -> str:
        return f"{'CC' if self.kind == 'cc' else 'note'} {self.number} ch {self.channel + 1}"


@dataclass(frozen=True)
class Target:
    """A parsed target: ``what`` (gain, mute, solo, master, bypass, key, fx), a stem or fx
    target in ``name``, and a 0-based slot for fx."""

    what: str
    name: str = ""
    slot: int = -1

    def __str__(self) -> str:
        if self.what == "fx":
            return f"fx:{self.name}:{self.slot + 1}"
        return f"{self.what}:{self.name}" if self.name else self.what


def parse_target(text: str, stems: tuple[str, ...]) -> Target:
    """``gain:vocals``, ``master``, ``fx:bass:1``... as a Target, or a StemliveError."""
    parts = str(text).split(":")
    what = parts[0]
    if what in ("gain", "mute", "solo") and len(parts) == 2 and parts[1] in stems:
        return Target(what, parts[1])
    if what in ("master", "key", "bypass") and len(parts) == 1:
        return Target(what)
    if what == "fx" and len(parts) == 3 and parts[1] in (*stems, "master"):
        if parts[2].isdigit() and int(parts[2]) >= 1:
            return Target("fx", parts[1], int(parts[2]) - 1)
    raise StemliveError(
        f"MIDI target {text!r} is not one of gain:STEM, mute:STEM, solo:STEM, master, key, "
        f"bypass, fx:STEM:SLOT (STEM one of {', '.join(stems)}; fx also takes master; slots "
        "count from 1)"
    )


def fader_db(value: int) -> float:
    """A CC value as a fader in dB: 0 is off, 1..100 rise to 0 dB, 100..127 to +6 dB."""
    if value <= 0:
        return -math.inf
    if value <= UNITY_VALUE:
        return FADER_MIN_DB * (1.0 - value / UNITY_VALUE)
    return FADER_MAX_DB * (value - UNITY_VALUE) / (127 - UNITY_VALUE)


def key_semitones(value: int) -> int:
    """A CC value as a key shift: 0 -> -6, 64 -> 0, 127 -> +6."""
    return round(value * 12 / 127) - 6


def scaled(value: int, lo: float, hi: float) -> float:
    return lo + (hi - lo) * value / 127.0


def switch(kind: str, value: int, current: bool) -> bool:
    """A note (velocity > 0) toggles; a CC is on at 64 and above."""
    return (not current) if kind == "note" else value >= 64


# -- the map -----------------------------------------------------------------------------------
class MidiMap:
    """Bindings -> target strings. Immutable: learning returns a new map, which a reader on
    another thread picks up in one assignment."""

    def __init__(self, bindings: dict[Binding, str] | None = None) -> None:
        self._b = dict(bindings or {})

    @classmethod
    def default(cls, stems: tuple[str, ...]) -> MidiMap:
        """CC 1.. faders, CC 7 master, CC 8 key, CC 21.. each stem's (then master's) first
        effect; notes 36.. mute and the next ones solo (pads), all on channel 1."""
        b: dict[Binding, str] = {}
        for i, s in enumerate(stems):
            b[Binding("cc", 0, 1 + i)] = f"gain:{s}"
            b[Binding("cc", 0, 21 + i)] = f"fx:{s}:1"
            b[Binding("note", 0, 36 + i)] = f"mute:{s}"
            b[Binding("note", 0, 36 + len(stems) + i)] = f"solo:{s}"
        b[Binding("cc", 0, 7)] = "master"
        b[Binding("cc", 0, 8)] = "key"
        b[Binding("cc", 0, 21 + len(stems))] = "fx:master:1"
        return cls(b)

    def __len__(self) -> int:
        return len(self._b)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MidiMap) and self._b == other._b

    def items(self) -> list[tuple[Binding, str]]:
        return sorted(self._b.items())

    def target(self, binding: Binding) -> str | None:
        return self._b.get(binding)

    def binding_for(self, target: str) -> Binding | None:
        return next((b for b, t in self._b.items() if t == target), None)

    def learn(self, binding: Binding, target: str) -> MidiMap:
        """A new map where ``binding`` drives ``target`` alone (older bindings of either go)."""
        b = {k: v for k, v in self._b.items() if v != target and k != binding}
        b[binding] = target
        return MidiMap(b)

    def to_json(self) -> dict:
        return {
            "bindings": [
                {"type": b.kind, "channel": b.channel + 1, "number": b.number, "target": t}
                for b, t in self.items()
            ]
        }

    @classmethod
    def from_json(cls, data: object, stems: tuple[str, ...], where: str = "MIDI map") -> MidiMap:
        try:
            rows = data["bindings"]  # type: ignore[index]
            b = {}
            for r in rows:
                target = str(parse_target(r["target"], stems))
                b[Binding(str(r["type"]), int(r["channel"]) - 1, int(r["number"]))] = target
        except StemliveError as exc:
            raise StemliveError(f"{where}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise StemliveError(
                f'{where}: expected {{"bindings": [{{"type": "cc" or "note", "channel": 1..16, '
                f'"number": 0..127, "target": ...}}]}} ({type(exc).__name__}: {exc})'
            ) from None
        return cls(b)

    @classmethod
    def load(cls, path: str | Path, stems: tuple[str, ...]) -> MidiMap:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise StemliveError(f"{path}: cannot read the MIDI map ({exc.strerror})") from None
        except ValueError as exc:
            raise StemliveError(f"{path}: not JSON ({exc})") from None
        return cls.from_json(data, stems, str(path))


def binding_of(data: list[int]) -> tuple[Binding, int] | None:
    """A raw MIDI message as (binding, value 0..127); None for anything not mappable."""
    if len(data) != 3:
        return None
    kind, channel = data[0] & 0xF0, data[0] & 0x0F
    if kind == 0xB0:
        return Binding("cc", channel, data[1]), data[2]
    if kind == 0x90 and data[2] > 0:  # a note-on of velocity 0 is a note-off
        return Binding("note", channel, data[1]), data[2]
    return None


# -- ports -------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """ALSA and JACK print to the C stderr when their system is absent; a missing system
    is normal here (either may be), so that noise is hidden while ports are listed."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


def _midi_in(api: str):
    import rtmidi

    return rtmidi.MidiIn(getattr(rtmidi, f"API_{api}"), name=CLIENT_NAME)


def list_ports() -> list[tuple[str, str]]:
    """(api, port name) of every MIDI input on the MIDI systems that answer."""
    found = []
    with _quiet_stderr():
        for api in APIS:
            try:
                rt = _midi_in(api)
            except Exception:  # noqa: BLE001, S112 - that MIDI system is absent or down
                continue
            found += [(api, n) for n in rt.get_ports() if not n.startswith(CLIENT_NAME + ":")]
            rt.delete()
    return found


def find_port(name: str) -> tuple[str, str]:
    """The (api, port) ``name`` means: exact, else a unique case-insensitive part of one."""
    ports = list_ports()
    exact = [p for p in ports if p[1] == name]
    near = [p for p in ports if name.lower() in p[1].lower()]
    if exact or len(near) == 1:
        return (exact or near)[0]
    listing = "; ".join(f"{n!r}" for _, n in ports) or "none (is a controller plugged in?)"
    what = "matches more than one port" if near else "is not a MIDI input"
    raise StemliveError(f"MIDI port {name!r} {what}. MIDI inputs: {listing}")


class MidiInput:
    """An open MIDI input; ``on_message(binding, value)`` runs on rtmidi's thread.

    ``received`` counts every message, ``last_message`` is when the last came
    (``time.monotonic``): the window blinks from those.
    """

    def __init__(self, name: str, on_message: Callable[[Binding, int], None]) -> None:
        self.api, self.port = find_port(name)
        self.on_message = on_message
        self.received = 0
        self.last_message = 0.0
        self.errors = 0
        self.last_error = ""
        with _quiet_stderr():
            try:
                rt = _midi_in(self.api)
                rt.open_port(rt.get_ports().index(self.port), name="midi_in")
            except Exception as exc:  # noqa: BLE001 - rtmidi's errors are plain exceptions
                raise StemliveError(f"cannot open MIDI port {self.port!r}: {exc}") from None
        rt.ignore_types(sysex=True, timing=True, active_sense=True)
        rt.set_callback(self._callback)
        self._in = rt

    def _callback(self, event: tuple[list[int], float], _data: object = None) -> None:
        self.received += 1
        self.last_message = time.monotonic()
        try:
            got = binding_of(event[0])
            if got is not None:
                self.on_message(*got)
        except Exception as exc:  # noqa: BLE001 - never into rtmidi's thread
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        rt, self._in = getattr(self, "_in", None), None
        if rt is not None:
            rt.cancel_callback()
            rt.close_port()
            rt.delete()

    def __enter__(self) -> MidiInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- driving the engine ------------------------------------------------------------------------
class EngineControl:
    """Applies a map's messages to a ``realtime.engine.Engine`` through its lock-free setters
    (mixer attributes, queued effect parameters, the key). Used by ``play``/``live --midi``;
    the window applies through its mixer panel instead, so that what it shows stays true."""

    def __init__(self, engine, midi_map: MidiMap) -> None:
        self.engine = engine
        self.map = midi_map  # replaced whole, never mutated
        self.applied = 0
        self._lock = threading.Lock()  # only ever taken on the MIDI thread (toggles' read-modify)

    def __call__(self, binding: Binding, value: int) -> None:
        text = self.map.target(binding)
        if text is None:
            return
        t = parse_target(text, self.engine.stems)
        m, e = self.engine.mixer, self.engine
        with self._lock:
            if t.what == "gain":
                m.set_gain_db(t.name, fader_db(value))
            elif t.what == "master":
                m.set_master_db(fader_db(value))
            elif t.what == "mute":
                m.set_mute(t.name, switch(binding.kind, value, m.mute(t.name)))
            elif t.what == "solo":
                m.set_solo(t.name, switch(binding.kind, value, m.solo(t.name)))
            elif t.what == "bypass":
                m.set_bypass(switch(binding.kind, value, m.bypass()))
            elif t.what == "key":
                e.set_key(key_semitones(value))
            elif t.what == "fx":
                slot = fx_main(e.fx_spec, t)
                if slot is not None:
                    name, lo, hi = slot
                    e.set_fx_param(t.name, t.slot, name, scaled(value, lo, hi))
            self.applied += 1

    def uses_key(self) -> bool:
        return any(t == "key" for _, t in self.map.items())

    def describe(self) -> str:
        """The mapped targets' current values, one line (what the controller left)."""
        m, e, out = self.engine.mixer, self.engine, []
        for text in sorted({t for _, t in self.map.items()}):
            t = parse_target(text, e.stems)
            if t.what == "gain":
                out.append(f"{t}={_db(m.gain_db(t.name))}")
            elif t.what == "master":
                out.append(f"master={_db(m.master_db())}")
            elif t.what in ("mute", "solo"):
                out.append(f"{t}={'on' if getattr(m, t.what)(t.name) else 'off'}")
            elif t.what == "bypass":
                out.append(f"bypass={'on' if m.bypass() else 'off'}")
            elif t.what == "key":
                out.append(f"key={e.key:+d}")
            elif t.what == "fx" and (slot := fx_main(e.fx_spec, t)) is not None:
                value = e.fx_spec[t.name][t.slot].params.get(slot[0])
                if value is not None:
                    out.append(f"{t}.{slot[0]}={value:.3g}")
        return " ".join(out)


def fx_main(spec: dict, t: Target) -> tuple[str, float, float] | None:
    """The main parameter of the slot ``t`` names in a chain spec: (name, min, max), or None
    when there is no such slot or the plugin has no parameters."""
    from realtime.fx import plugin_info

    slots = spec.get(t.name, ())
    if not 0 <= t.slot < len(slots):
        return None
    info = plugin_info(slots[t.slot].plugin)
    p = info.param(info.main_param) if info.main_param else None
    return None if p is None else (p.name, p.minimum, p.maximum)


def _db(db: float) -> str:
    return "-inf" if db == -math.inf else f"{db:+.1f}dB"
