"""Presets carry the routing (stem outputs, monitor mix, its faders), on a real JACK graph.

A preset saved in the window comes back from JSON with its outputs; applying it
restores the ports and faders. On a stereo device (ALSA's ``jack`` plugin device,
2 channels) a preset's extra outputs are impossible: refused with a message that
says why, and the engine runs on with the outputs it had.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QInputDialog

from gui.engine_adapter import create_engine
from gui.engine_api import EngineSettings
from gui.main_window import MainWindow
from gui.presets import MixState, Routing
from gui.settings_store import SettingsStore
from realtime import devices
from realtime.jack import dummy_server
from tests.separators import known_separator

pytestmark = [pytest.mark.jack, pytest.mark.slow]
DEMO = Path(__file__).resolve().parent.parent / "model" / "demo" / "demo_song.flac"
STEMS = ("vocals", "bass", "drums", "other")


def test_routing_survives_json_and_rejects_unknown_stems():
    routing = Routing(("vocals", "drums"), True, {"vocals": 3.0, "bass": -math.inf})
    mix = replace(MixState.neutral(STEMS), fx={}, key=2, routing=routing)
    back = MixState.from_json(mix.to_json(), STEMS)
    assert back.routing == Routing(
        ("vocals", "drums"), True, {"vocals": 3.0, "bass": -math.inf, "drums": 0.0, "other": 0.0}
    )
    assert back.key == 2 and back.fx == {}
    with pytest.raises(ValueError, match="stem outputs piano are not stems of this model"):
        MixState.from_json(mix.to_json().replace('"drums"]', '"piano"]'), STEMS)
    assert MixState.from_json(MixState.neutral(STEMS).to_json(), STEMS).routing is None


def test_a_preset_restores_its_outputs_and_an_impossible_one_is_refused(
    qtbot, qapp, tmp_path, monkeypatch
):
    store = SettingsStore(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    store.set_engine_settings(
        EngineSettings(output_device="JACK", stem_outputs=("vocals",), monitor_mix=True)
    )
    store.set_monitor_gains({"vocals": 3.0, "bass": -math.inf})
    with dummy_server("stemlive-gui-presets", rate=44100, period=256) as jack:
        engine = create_engine(EngineSettings(), separator=known_separator())
        w = MainWindow(engine, store)
        qtbot.addWidget(w)
        w.show()
        try:
            w.start(str(DEMO))
            qtbot.waitUntil(lambda: "stemlive:monitor_R" in jack.ports(), timeout=30000)

            # Saved through the window's own dialog, read back from the settings file's JSON.
            monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Band + guide", True))
            w.save_preset()
            saved = SettingsStore(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
            routing = saved.user_presets(engine.stems)["Band + guide"].routing
            assert routing == Routing(
                ("vocals",), True, {"vocals": 3.0, "bass": -math.inf, "drums": 0.0, "other": 0.0}
            )

            # Other outputs and faders, then the preset brings its own back.
            w.apply_routing((), False)
            w._set_monitor_gain("vocals", -6.0)
            qtbot.waitUntil(lambda: "stemlive:vocals_L" not in jack.ports(), timeout=30000)
            w.mixer.apply_preset("Band + guide")
            qtbot.waitUntil(
                lambda: (
                    "stemlive:vocals_L" in jack.ports() and "stemlive:monitor_L" in jack.ports()
                ),
                timeout=30000,
            )
            qtbot.waitUntil(
                lambda: w.last_snapshot.outputs == ("main", "vocals", "monitor"), timeout=30000
            )
            assert engine.monitor_gain_db("vocals") == 3.0
            assert engine.monitor_gain_db("bass") == -math.inf
            assert store.engine_settings().stem_outputs == ("vocals",)
            assert not w.last_error, w.last_error

            # A stereo device: the preset's two extra pairs cannot be had there.
            (stereo,) = [
                d for d in devices.list_devices() if d.hostapi == "ALSA" and d.name == "jack"
            ]
            w.apply_settings(
                replace(w.settings, output_device=stereo.label, stem_outputs=(), monitor_mix=False)
            )
            qtbot.waitUntil(lambda: "stemlive:main_L" not in jack.ports(), timeout=30000)
            qtbot.waitUntil(lambda: w.last_snapshot.running, timeout=30000)
            w._set_monitor_gain("vocals", -6.0)
            w.mixer.apply_preset("Band + guide")
            qtbot.waitUntil(lambda: "Outputs not changed" in w.last_error, timeout=30000)
            print(f"\n{w.last_error}")
            assert "2 output channels" in w.last_error and "Band + guide" in w.last_error
            assert "the outputs stay as they were (main)" in w.last_error
            qtbot.waitUntil(lambda: w.last_snapshot.running, timeout=30000)
            assert w.last_snapshot.outputs == ("main",)
            assert (w.settings.stem_outputs, w.settings.monitor_mix) == ((), False)
            assert store.engine_settings().stem_outputs == ()
            assert engine.monitor_gain_db("vocals") == -6.0  # the faders went back too
            position = w.last_snapshot.position_s
            qtbot.waitUntil(lambda: w.last_snapshot.position_s > position + 0.5, timeout=30000)
        finally:
            w.shutdown()  # before the server goes
