"""What persists between runs (devices, engine settings, last and recent files, the mix,
user presets, window layout), on a QSettings the caller provides.

The store never creates its own QSettings so that tests (and a portable
install) can point it at a file of their own.
"""

from __future__ import annotations

import json
import math

from PySide6.QtCore import QByteArray, QSettings

from gui.engine_api import EngineSettings
from gui.presets import MixState
from model.errors import StemliveError
from realtime import DEFAULT_SAFETY_MS
from realtime.midi import MidiMap

MAX_RECENT = 8


class SettingsStore:
    """Typed access to the keys stemlive keeps in a QSettings."""

    def __init__(self, qsettings: QSettings) -> None:
        self.q = qsettings

    # -- engine ---------------------------------------------------------------------
    def engine_settings(self) -> EngineSettings:
        q = self.q
        try:
            return EngineSettings(
                input_device=q.value("engine/input_device") or None,
                output_device=q.value("engine/output_device") or None,
                sample_rate=int(q.value("engine/sample_rate") or 0) or None,
                latency_preset=str(q.value("engine/latency_preset") or "standard"),
                safety_ms=float(q.value("engine/safety_ms") or DEFAULT_SAFETY_MS),
                model_folder=q.value("engine/model_folder") or None,
                stem_outputs=tuple(json.loads(q.value("routing/stem_outputs") or "[]")),
                monitor_mix=str(q.value("routing/monitor_mix") or "false").lower() == "true",
                int8=str(q.value("engine/int8") or "true").lower() == "true",
            )
        except (TypeError, ValueError, AttributeError):
            return EngineSettings()  # a hand-edited or old file: start from defaults

    def set_engine_settings(self, s: EngineSettings) -> None:
        q = self.q
        q.setValue("engine/input_device", s.input_device or "")
        q.setValue("engine/output_device", s.output_device or "")
        q.setValue("engine/sample_rate", s.sample_rate or 0)
        q.setValue("engine/latency_preset", s.latency_preset)
        q.setValue("engine/safety_ms", float(s.safety_ms))
        q.setValue("engine/model_folder", s.model_folder or "")
        q.setValue("routing/stem_outputs", json.dumps(list(s.stem_outputs)))
        q.setValue("routing/monitor_mix", "true" if s.monitor_mix else "false")
        q.setValue("engine/int8", "true" if s.int8 else "false")

    # -- routing --------------------------------------------------------------------
    def monitor_gains(self, stems: tuple[str, ...]) -> dict[str, float]:
        """The monitor mix's faders in dB (-inf stored as null); 0 dB for stems not stored."""
        try:
            raw = json.loads(self.q.value("routing/monitor_gains") or "{}")
        except ValueError:
            raw = {}
        out = {}
        for s in stems:
            v = raw.get(s, 0.0) if isinstance(raw, dict) else 0.0
            out[s] = -math.inf if v is None else float(v)
        return out

    def set_monitor_gains(self, gains: dict[str, float]) -> None:
        self.q.setValue(
            "routing/monitor_gains",
            json.dumps({k: (None if v == -math.inf else v) for k, v in gains.items()}),
        )

    # -- files ----------------------------------------------------------------------
    def last_file(self) -> str | None:
        return self.q.value("files/last") or None

    def recent_files(self) -> list[str]:
        raw = self.q.value("files/recent") or "[]"
        try:
            return [str(p) for p in json.loads(raw)][:MAX_RECENT]
        except (ValueError, TypeError):
            return []

    def add_recent(self, path: str) -> list[str]:
        """Put ``path`` first in the recent list (and as the last file); returns the list."""
        recent = [path] + [p for p in self.recent_files() if p != path]
        recent = recent[:MAX_RECENT]
        self.q.setValue("files/recent", json.dumps(recent))
        self.q.setValue("files/last", path)
        return recent

    # -- mix and presets ------------------------------------------------------------
    def mix(self, stems: tuple[str, ...]) -> MixState:
        raw = self.q.value("mix/state")
        if not raw:
            return MixState.neutral(stems)
        try:
            return MixState.from_json(str(raw), stems)
        except ValueError:
            return MixState.neutral(stems)

    def set_mix(self, mix: MixState) -> None:
        self.q.setValue("mix/state", mix.to_json())

    def user_presets(self, stems: tuple[str, ...]) -> dict[str, MixState]:
        try:
            raw = json.loads(self.q.value("presets/user") or "{}")
            return {name: MixState.from_json(text, stems) for name, text in raw.items()}
        except (ValueError, TypeError, AttributeError):
            return {}

    def save_user_preset(self, name: str, mix: MixState) -> None:
        try:
            raw = json.loads(self.q.value("presets/user") or "{}")
        except ValueError:
            raw = {}
        # A preset is the mix (faders, effects, key, routing), not the bypass or master level
        # of the moment.
        raw[name] = MixState(mix.strips, fx=mix.fx, key=mix.key, routing=mix.routing).to_json()
        self.q.setValue("presets/user", json.dumps(raw))

    # -- MIDI ---------------------------------------------------------------------
    def midi_port(self) -> str | None:
        return self.q.value("midi/port") or None

    def set_midi_port(self, port: str | None) -> None:
        self.q.setValue("midi/port", port or "")

    def midi_map(self, stems: tuple[str, ...]) -> MidiMap:
        """The learned map, or the default one (none stored, or a stale or broken one)."""
        raw = self.q.value("midi/map")
        if raw:
            try:
                return MidiMap.from_json(json.loads(str(raw)), stems)
            except (ValueError, StemliveError):
                pass
        return MidiMap.default(stems)

    def set_midi_map(self, midi_map: MidiMap) -> None:
        self.q.setValue("midi/map", json.dumps(midi_map.to_json()))

    # -- window ---------------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        value = self.q.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def set_geometry(self, geometry: QByteArray) -> None:
        self.q.setValue("window/geometry", geometry)

    def spectrogram_single(self) -> str | None:
        return self.q.value("view/spectrogram_single") or None

    def set_spectrogram_single(self, source: str | None) -> None:
        self.q.setValue("view/spectrogram_single", source or "")

    def sync(self) -> None:
        self.q.sync()
