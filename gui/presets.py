"""The mixer's state (gain, mute, solo per stem; master; bypass) and named presets.

A preset is a complete ``MixState`` for the stems it names: applying one sets
every strip, so nothing of the previous mix lingers. A user preset also carries
the effects, the key and the routing (stem outputs, monitor mix and its
faders). Built-in presets are code; user presets live in QSettings as JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

from model.errors import StemliveError
from realtime.fx import chains_to_json, parse_chains
from realtime.keyshift import check_key

GAIN_MIN_DB = -60.0  # the fader's bottom notch means -inf
GAIN_MAX_DB = 6.0


@dataclass(frozen=True)
class StripState:
    """One stem's fader and buttons."""

    gain_db: float = 0.0  # -inf silences
    mute: bool = False
    solo: bool = False


@dataclass(frozen=True)
class Routing:
    """Outputs besides the main mix: stems with a pair of their own, the monitor mix, its faders."""

    stem_outputs: tuple[str, ...] = ()
    monitor_mix: bool = False
    monitor_gains: dict[str, float] = field(default_factory=dict)  # dB, -inf silences

    def to_dict(self) -> dict:
        return {
            "stem_outputs": list(self.stem_outputs),
            "monitor_mix": self.monitor_mix,
            "monitor_gains": {k: _db_json(v) for k, v in self.monitor_gains.items()},
        }

    @classmethod
    def from_dict(cls, d: dict, stems: tuple[str, ...]) -> Routing:
        """Raises ValueError naming a stem the model does not have."""
        outputs = tuple(str(s) for s in d.get("stem_outputs", ()))
        unknown = [s for s in outputs if s not in stems]
        if unknown:
            raise ValueError(
                f"stem outputs {', '.join(unknown)} are not stems of this model "
                f"({', '.join(stems)})"
            )
        if len(set(outputs)) != len(outputs):
            raise ValueError(f"a stem output is named twice: {', '.join(outputs)}")
        raw = d.get("monitor_gains", {})
        gains = {}
        for s in stems:
            g = raw.get(s, 0.0)
            gains[s] = -math.inf if g is None else _clamp_db(float(g))
        return cls(outputs, bool(d.get("monitor_mix", False)), gains)


@dataclass(frozen=True)
class MixState:
    """The whole mixer; immutable so the GUI can hand it around and compare it."""

    strips: dict[str, StripState] = field(default_factory=dict)
    master_db: float = 0.0
    bypass: bool = False
    # Effect chains (a ChainSpec: stem or "master" -> SlotSpecs) and the key shift; None in
    # a preset means "keep what is there" (the built-in presets only set the faders).
    fx: dict | None = None
    key: int | None = None
    routing: Routing | None = None  # None: keep the outputs there are

    @classmethod
    def neutral(cls, stems: tuple[str, ...]) -> MixState:
        """Every stem at 0 dB, nothing muted or soloed."""
        return cls({s: StripState() for s in stems})

    def with_strip(self, stem: str, **changes: object) -> MixState:
        """A copy with one strip changed (``gain_db``, ``mute``, ``solo``)."""
        strips = dict(self.strips)
        strips[stem] = replace(strips.get(stem, StripState()), **changes)
        return replace(self, strips=strips)

    def audible(self, stem: str) -> bool:
        """Mute wins over solo; when any stem is soloed, only soloed stems sound."""
        s = self.strips[stem]
        if s.mute or s.gain_db == -math.inf:
            return False
        any_solo = any(x.solo for x in self.strips.values())
        return s.solo or not any_solo

    def effective_gains_db(self) -> dict[str, float]:
        """What each stem contributes to the remix, in dB, after mute and solo."""
        return {
            name: (s.gain_db + self.master_db) if self.audible(name) else -math.inf
            for name, s in self.strips.items()
        }

    def to_json(self) -> str:
        """JSON that survives -inf (stored as null)."""
        db = _db_json
        return json.dumps(
            {
                "strips": {
                    k: {"gain_db": db(v.gain_db), "mute": v.mute, "solo": v.solo}
                    for k, v in self.strips.items()
                },
                "master_db": db(self.master_db),
                "bypass": self.bypass,
                **({"fx": chains_to_json(self.fx)} if self.fx is not None else {}),
                **({"key": self.key} if self.key is not None else {}),
                **({"routing": self.routing.to_dict()} if self.routing is not None else {}),
            }
        )

    @classmethod
    def from_json(cls, text: str, stems: tuple[str, ...]) -> MixState:
        """Read ``to_json`` output for these stems; unknown stems are dropped, missing ones neutral.

        Raises ValueError with a readable message on malformed input.
        """
        try:
            d = json.loads(text)
            strips = {}
            for name in stems:
                s = d.get("strips", {}).get(name, {})
                g = s.get("gain_db", 0.0)
                strips[name] = StripState(
                    gain_db=-math.inf if g is None else _clamp_db(float(g)),
                    mute=bool(s.get("mute", False)),
                    solo=bool(s.get("solo", False)),
                )
            m = d.get("master_db", 0.0)
            fx = parse_chains(d["fx"], stems, "preset") if "fx" in d else None
            key = check_key(d["key"]) if "key" in d else None
            routing = Routing.from_dict(d["routing"], stems) if "routing" in d else None
            return cls(
                strips,
                -math.inf if m is None else _clamp_db(float(m)),
                bool(d.get("bypass")),
                fx,
                key,
                routing,
            )
        except (ValueError, TypeError, AttributeError, StemliveError) as exc:
            raise ValueError(f"not a stemlive mixer preset: {exc}") from None


def _db_json(x: float) -> float | None:
    return None if x == -math.inf else x


def _clamp_db(db: float) -> float:
    if db < GAIN_MIN_DB:
        return -math.inf
    return min(GAIN_MAX_DB, db)


def _preset(stems: tuple[str, ...], **gains: float) -> MixState:
    """A preset by per-stem gain (dB); ``-inf`` becomes a mute so the fader keeps its place."""
    strips = {}
    for s in stems:
        g = gains.get(s, 0.0)
        strips[s] = StripState(0.0, mute=True) if g == -math.inf else StripState(g)
    return MixState(strips)


def builtin_presets(stems: tuple[str, ...]) -> dict[str, MixState]:
    """The presets every user gets, for the model's stems (names absent from it are ignored)."""
    off = -math.inf
    return {
        "Full mix": _preset(stems),
        "Karaoke": _preset(stems, vocals=off),
        "A cappella": _preset(stems, bass=off, drums=off, other=off),
        "Drumless": _preset(stems, drums=off),
        "Bassless": _preset(stems, bass=off),
        # Practising along: your instrument's stem quiet but audible as a guide.
        "Instrumental practice": _preset(stems, other=-18.0, vocals=-6.0),
        "Rhythm section": _preset(stems, vocals=off, other=off),
    }
