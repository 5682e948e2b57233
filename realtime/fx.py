"""Effect plug-ins: what can be loaded, chain files, and one slot that streams.

A *chain file* is JSON mapping a stem name or ``"master"`` to a list of slots::

    {"bass": [{"plugin": "Gain", "gain_db": -6}],
     "vocals": [{"plugin": "Compressor", "threshold_db": -20, "ratio": 4},
                {"plugin": "Reverb", "wet_level": 0.2, "bypass": true}],
     "master": [{"plugin": "/usr/lib/vst3/ZaMaximX2.vst3", "threshold_db": -3}]}

``plugin`` is a built-in's class name (pedalboard's) or a VST3 bundle's path;
the other keys are the plugin's own parameter names. The rack that runs chains
is ``realtime.fxrack``; this module holds the catalogue and the single slot.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.errors import StemliveError
from realtime.ring import DelayLine, RingBuffer

MASTER = "master"
VST3_PATHS = ("/usr/lib/vst3", "/usr/local/lib/vst3", "~/.vst3")
# Known bad loaders or streamers, by bundle name: kept out of `fx list` and refused.
VST3_DENY = {
    "ZamVerb": "takes minutes to load",
    "ZamGrains": "a granular instrument, not a stem effect",
}
# Output depends on the block size it is fed in: usable, but not sample-exact offline.
BLOCK_SIZE_DEPENDENT = {"ZamDelay"}


@dataclass(frozen=True)
class ParamInfo:
    """One parameter: its name in chain files, its range and unit."""

    name: str
    minimum: float
    maximum: float
    unit: str = ""
    default: float = 0.0


@dataclass(frozen=True)
class PluginInfo:
    """Something a slot can load: a built-in (by class name) or a VST3 bundle (by path)."""

    name: str  # what a chain file says: "Reverb" or "/usr/lib/vst3/ZamCompX2.vst3"
    label: str  # what the window shows
    kind: str  # "builtin" or "vst3"
    params: tuple[ParamInfo, ...] = ()
    block_size_dependent: bool = False

    @property
    def main_param(self) -> str | None:
        """The parameter a MIDI knob mapped to this slot turns (the first listed)."""
        return self.params[0].name if self.params else None

    def param(self, name: str) -> ParamInfo | None:
        return next((p for p in self.params if p.name == name), None)


def _p(name: str, lo: float, hi: float, unit: str, default: float) -> ParamInfo:
    return ParamInfo(name, float(lo), float(hi), unit, float(default))


# pedalboard's own effects: its classes carry no ranges, so they are stated here,
# main parameter first. PitchShift is left out: it goes silent when streamed.
BUILTINS: dict[str, tuple[ParamInfo, ...]] = {
    "Gain": (_p("gain_db", -60, 24, "dB", 0),),
    "Compressor": (
        _p("threshold_db", -60, 0, "dB", 0),
        _p("ratio", 1, 20, "", 1),
        _p("attack_ms", 0.1, 200, "ms", 1),
        _p("release_ms", 1, 2000, "ms", 100),
    ),
    "Limiter": (_p("threshold_db", -30, 0, "dB", -10), _p("release_ms", 1, 2000, "ms", 100)),
    "NoiseGate": (
        _p("threshold_db", -100, 0, "dB", -100),
        _p("ratio", 1, 20, "", 10),
        _p("attack_ms", 0.1, 200, "ms", 1),
        _p("release_ms", 1, 2000, "ms", 100),
    ),
    "Reverb": (
        _p("wet_level", 0, 1, "", 0.33),
        _p("room_size", 0, 1, "", 0.5),
        _p("damping", 0, 1, "", 0.5),
        _p("dry_level", 0, 1, "", 0.4),
        _p("width", 0, 1, "", 1),
    ),
    "Delay": (
        _p("mix", 0, 1, "", 0.5),
        _p("delay_seconds", 0, 2, "s", 0.5),
        _p("feedback", 0, 1, "", 0),
    ),
    "Chorus": (
        _p("mix", 0, 1, "", 0.5),
        _p("rate_hz", 0.01, 20, "Hz", 1),
        _p("depth", 0, 1, "", 0.25),
        _p("centre_delay_ms", 1, 50, "ms", 7),
        _p("feedback", 0, 0.95, "", 0),
    ),
    "Phaser": (
        _p("mix", 0, 1, "", 0.5),
        _p("rate_hz", 0.01, 20, "Hz", 1),
        _p("depth", 0, 1, "", 0.5),
        _p("centre_frequency_hz", 20, 10000, "Hz", 1300),
        _p("feedback", -0.95, 0.95, "", 0),
    ),
    "HighpassFilter": (_p("cutoff_frequency_hz", 10, 20000, "Hz", 50),),
    "LowpassFilter": (_p("cutoff_frequency_hz", 10, 20000, "Hz", 50),),
    "PeakFilter": (
        _p("gain_db", -24, 24, "dB", 0),
        _p("cutoff_frequency_hz", 10, 20000, "Hz", 440),
        _p("q", 0.1, 20, "", 0.7071),
    ),
    "LowShelfFilter": (
        _p("gain_db", -24, 24, "dB", 0),
        _p("cutoff_frequency_hz", 10, 20000, "Hz", 440),
        _p("q", 0.1, 20, "", 0.7071),
    ),
    "HighShelfFilter": (
        _p("gain_db", -24, 24, "dB", 0),
        _p("cutoff_frequency_hz", 10, 20000, "Hz", 440),
        _p("q", 0.1, 20, "", 0.7071),
    ),
    "Distortion": (_p("drive_db", 0, 60, "dB", 25),),
    "Clipping": (_p("threshold_db", -60, 0, "dB", -6),),
    "Bitcrush": (_p("bit_depth", 1, 32, "bits", 8),),
    "Invert": (),
}


# -- the catalogue -----------------------------------------------------------------------------
def vst3_bundles() -> list[Path]:
    """VST3 bundles in the standard folders, the deny-list left out."""
    found = []
    for folder in VST3_PATHS:
        d = Path(os.path.expanduser(folder))
        if d.is_dir():
            found += [p for p in sorted(d.glob("*.vst3")) if p.stem not in VST3_DENY]
    return found


_INFO_CACHE: dict[str, PluginInfo] = {}


def plugin_info(name: str) -> PluginInfo:
    """What a chain file's ``plugin`` names: its parameters. Raises StemliveError."""
    if name in _INFO_CACHE:
        return _INFO_CACHE[name]
    if name in BUILTINS:
        info = PluginInfo(name, name, "builtin", BUILTINS[name])
    else:
        path = Path(name)
        if path.suffix != ".vst3":
            raise StemliveError(
                f"unknown plugin {name!r}: a built-in ({', '.join(BUILTINS)}) "
                "or the path of a .vst3 bundle (see 'stemlive fx list')"
            )
        if path.stem in VST3_DENY:
            raise StemliveError(f"plugin {name!r} is on the deny-list: {VST3_DENY[path.stem]}")
        if not path.exists():
            raise StemliveError(f"no VST3 bundle at {name!r}")
        plugin = _load_vst3(path, pooled=False)
        params = []
        for key, p in plugin.parameters.items():
            lo, hi, _step = p.range
            if not p.is_automatable or lo is None or hi is None or key == "current_program":
                continue  # DPF's buffer_size_frames, meters and program lists are not controls
            unit = (p.units or "").strip()
            params.append(ParamInfo(key, float(lo), float(hi), unit, _num(plugin, key)))
        info = PluginInfo(
            str(path),
            path.stem,
            "vst3",
            tuple(params),
            block_size_dependent=path.stem in BLOCK_SIZE_DEPENDENT,
        )
    _INFO_CACHE[name] = info
    return info


def _num(plugin, key: str) -> float:
    try:
        return float(getattr(plugin, key))
    except (TypeError, ValueError):
        return 0.0


# pedalboard loads VST3s only on the main thread: instances loaded there ahead of a
# (re)start off it wait here, by path, until a slot takes them.
_POOL: dict[str, list] = {}
_POOL_LOCK = threading.Lock()


def preload(spec: ChainSpec, channels: int = 2) -> None:
    """Load the VST3 instances ``spec`` needs (call on the main thread; two per mono plugin)."""
    need: dict[str, int] = {}
    for slots in spec.values():
        for s in slots:
            if plugin_info(s.plugin).kind == "vst3":
                need[s.plugin] = need.get(s.plugin, 0) + channels
    for path, n in need.items():
        with _POOL_LOCK:
            have = len(_POOL.get(path, []))
        fresh = [_load_vst3(Path(path), pooled=False) for _ in range(max(0, n - have))]
        with _POOL_LOCK:
            _POOL.setdefault(path, []).extend(fresh)


def _load_vst3(path: Path, pooled: bool = True):
    import pedalboard

    if pooled:
        with _POOL_LOCK:
            if _POOL.get(str(path)):
                return _POOL[str(path)].pop()
    if threading.current_thread() is not threading.main_thread():
        raise StemliveError(
            f"VST3 {str(path)!r} must be loaded on the main thread (realtime.fx.preload)"
        )
    try:
        return pedalboard.load_plugin(str(path))
    except Exception as exc:  # noqa: BLE001 - any loader failure is the user's file's
        raise StemliveError(f"cannot load VST3 {str(path)!r}: {exc}") from None


def list_plugins() -> list[PluginInfo]:
    """Every loadable plugin: the built-ins, then the VST3 bundles found."""
    out = [plugin_info(n) for n in BUILTINS]
    for path in vst3_bundles():
        try:
            out.append(plugin_info(str(path)))
        except StemliveError:
            continue
    return out


# -- chain specs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SlotSpec:
    """One slot of a chain as a chain file says it."""

    plugin: str
    params: dict[str, float] = field(default_factory=dict)
    bypass: bool = False

    def to_json(self) -> dict:
        return {"plugin": self.plugin, **self.params, **({"bypass": True} if self.bypass else {})}


ChainSpec = dict[str, tuple[SlotSpec, ...]]  # stem or "master" -> slots


def with_slot(
    spec: ChainSpec,
    target: str,
    index: int,
    param: tuple[str, float] | None = None,
    bypass: bool | None = None,
) -> ChainSpec | None:
    """``spec`` with one slot's parameter and/or bypass changed; None if there is no such slot
    (a chain being replaced: the new one carries its own values)."""
    if not 0 <= index < len(spec.get(target, ())):
        return None
    slots = list(spec[target])
    old = slots[index]
    slots[index] = SlotSpec(
        old.plugin,
        {**old.params, param[0]: param[1]} if param else old.params,
        old.bypass if bypass is None else bool(bypass),
    )
    return {**spec, target: tuple(slots)}


def parse_chains(data: object, stems: tuple[str, ...], where: str = "chain") -> ChainSpec:
    """Validate a decoded chain file; errors name ``where`` and the slot."""
    if not isinstance(data, dict):
        raise StemliveError(f"{where}: expected an object mapping a stem or 'master' to slots")
    out: ChainSpec = {}
    for target, slots in data.items():
        if target not in (*stems, MASTER):
            raise StemliveError(
                f"{where}: unknown target {target!r}; use one of {', '.join((*stems, MASTER))}"
            )
        if not isinstance(slots, list):
            raise StemliveError(f"{where}: {target} must be a list of slots")
        out[target] = tuple(
            _parse_slot(s, f"{where}: {target} slot {i + 1}") for i, s in enumerate(slots)
        )
    return out


def _parse_slot(d: object, where: str) -> SlotSpec:
    if not isinstance(d, dict) or not isinstance(d.get("plugin"), str):
        raise StemliveError(f'{where}: expected an object with a "plugin" name')
    name = d["plugin"]
    try:
        info = plugin_info(name)
    except StemliveError as exc:
        raise StemliveError(f"{where}: {exc}") from None
    bypass = d.get("bypass", False)
    if not isinstance(bypass, bool):
        raise StemliveError(f"{where} ({info.label}): bypass must be true or false")
    params = {}
    for key, value in d.items():
        if key in ("plugin", "bypass"):
            continue
        p = info.param(key)
        if p is None:
            names = ", ".join(q.name for q in info.params) or "none"
            raise StemliveError(
                f"{where} ({info.label}): unknown parameter {key!r}; its parameters: {names}"
            )
        params[key] = check_value(p, value, f"{where} ({info.label})")
    return SlotSpec(name, params, bypass)


def check_value(p: ParamInfo, value: object, where: str) -> float:
    """A parameter value as a float inside its range, or a StemliveError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise StemliveError(f"{where}: {p.name} must be a number, not {value!r}")
    if not p.minimum <= value <= p.maximum:
        raise StemliveError(
            f"{where}: {p.name} = {value} is outside {p.minimum:g}..{p.maximum:g} {p.unit}".rstrip()
        )
    return float(value)


def load_chains(path: str | Path, stems: tuple[str, ...]) -> ChainSpec:
    """Read and validate a chain file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise StemliveError(f"cannot read chain file {str(path)!r}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise StemliveError(f"{path}: not JSON ({exc})") from None
    return parse_chains(data, stems, str(path))


def chains_to_json(spec: ChainSpec) -> dict:
    return {k: [s.to_json() for s in v] for k, v in spec.items() if v}


# -- one slot, streaming -----------------------------------------------------------------------
class Slot:
    """One plugin streaming (C, n) blocks at a fixed latency, whatever sizes it returns.

    Feed it blocks of one size (``max_block``; a last shorter one is fine): plugins
    fed varying sizes were measured to change their output and even their delay.

    pedalboard streams with ``reset=False`` and compensates a plugin's reported
    latency by returning short arrays at first; a FIFO primed with ``latency``
    zeros turns that back into same-size blocks delayed by exactly ``latency``.
    A bypassed slot keeps processing (so switching never jumps in time) and
    outputs its input delayed by the same latency, crossfaded over one block.
    """

    def __init__(self, spec: SlotSpec, rate: int, channels: int, max_block: int) -> None:
        self.spec = spec
        self.info = plugin_info(spec.plugin)
        self.rate, self.channels, self.max_block = rate, channels, max_block
        self.bypass = spec.bypass
        self.failed: str | None = None
        self._plugins = [self._new_plugin()]
        # Every parameter's current value (the GUI's editor shows them all).
        self.params = {p.name: _num(self._plugins[0], p.name) for p in self.info.params}
        self._mono = False
        if self.info.kind == "vst3" and not self._accepts(self._plugins[0], channels):
            self._mono = True  # a mono-only plugin: one instance per channel
            self._plugins += [self._new_plugin() for _ in range(channels - 1)]
        for name, value in spec.params.items():
            self.set_param(name, value)
        self.latency = self._measure_latency()
        self._fifo = RingBuffer(channels, self.latency + 4 * max_block + 8192)
        self._dry = DelayLine(channels, self.latency, max_block)
        self._dry_out = np.zeros((channels, max_block), np.float32)
        self._out = np.zeros((channels, max_block), np.float32)
        self._w = 0.0 if self.bypass else 1.0  # weight of the plugin's output
        self.reset()

    def _new_plugin(self):
        import pedalboard

        if self.info.kind == "builtin":
            return getattr(pedalboard, self.spec.plugin)()
        return _load_vst3(Path(self.spec.plugin))

    def _accepts(self, plugin, channels: int) -> bool:
        try:
            plugin.process(np.zeros((channels, 64), np.float32), self.rate, reset=False)
            return True
        except ValueError:
            return False

    def _run(self, x: np.ndarray) -> np.ndarray:
        B = self.max_block  # one buffer size always: a change re-prepares the plugin
        if not self._mono:
            return self._plugins[0].process(x, self.rate, buffer_size=B, reset=False)
        parts = [
            p.process(x[c : c + 1], self.rate, buffer_size=B, reset=False)
            for c, p in enumerate(self._plugins)
        ]
        return np.concatenate(parts, 0)

    def _measure_latency(self) -> int:
        """Frames the plugin holds back: counted from its short arrays, not timed."""
        for p in self._plugins:
            p.reset()  # pedalboard compensates a plugin's latency only after a reset
        fed = got = 0
        x = np.zeros((self.channels, self.max_block), np.float32)
        while fed < 32768:
            got += self._run(x).shape[1]
            fed += self.max_block
        for p in self._plugins:
            p.reset()
        return fed - got

    def release(self) -> None:
        """Give VST3 instances back to the pool (a restart reuses them off the main thread)."""
        if self.info.kind != "vst3":
            return
        for p in self._plugins:
            try:
                for q in self.info.params:
                    setattr(p, q.name, q.default)
                p.reset()
            except Exception:  # noqa: BLE001, S112 - a broken instance is dropped, not reused
                continue
            with _POOL_LOCK:
                _POOL.setdefault(self.spec.plugin, []).append(p)
        self._plugins = []
        self.failed = "released"

    def reset(self) -> None:
        for p in self._plugins:
            p.reset()
        self._fifo.skip(self._fifo.available())
        self._fifo.write_zeros(self.latency)
        self._dry.reset()
        self._w = 0.0 if self.bypass or self.failed else 1.0

    def set_param(self, name: str, value: float) -> None:
        """Worker side (or before streaming): write into the plugin(s)."""
        for p in self._plugins:
            setattr(p, name, value)
        self.params[name] = value

    def process(self, x: np.ndarray) -> np.ndarray:
        """(C, n) -> (C, n), n <= max_block; the returned array is reused by the next call."""
        n = x.shape[1]
        dry = self._dry_out[:, :n]
        self._dry.process(x, dry)
        if self.failed:
            return dry
        y = self._run(x)
        self._fifo.write(y)
        out = self._out[:, :n]
        got = self._fifo.read_into(out, n)
        if got < n:  # never for a plugin that keeps its latency; say so rather than click
            out[:, got:] = 0.0
            raise RuntimeError(f"{self.info.label} returned {got} of {n} frames")
        target = 0.0 if self.bypass else 1.0
        if self._w == target:
            return out if target else dry
        ramp = np.linspace(self._w, target, n + 1, dtype=np.float32)[1:]
        self._w = target
        out *= ramp
        out += (1.0 - ramp) * dry
        return out
