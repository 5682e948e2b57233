"""The window's effects: an FX list per strip, the parameter editor, the key control,
presets that carry chains and key, all driving the real engine (no output device)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from gui.presets import MixState
from realtime.fx import SlotSpec

MAXIM = "/usr/lib/vst3/ZaMaximX2.vst3"


@pytest.fixture
def window(running_window):
    return running_window


def test_add_edit_bypass_and_key_reach_the_engine(qtbot, window, tmp_path):
    panel, engine = window.mixer, window.engine.engine
    panel.fx["vocals"].add_slot(MAXIM)  # a VST3 with 480 samples of latency
    panel.fx["bass"].add_slot("Gain")
    qtbot.waitUntil(
        lambda: bool(engine.running and engine.fx.chains["bass"] and window.last_snapshot.running),
        timeout=20000,
    )
    qtbot.waitUntil(lambda: window.last_snapshot.fx_latency_ms > 10.8)
    assert [s.plugin for s in engine.fx_spec["vocals"]] == [MAXIM]
    assert engine.fx.latency == 480
    # The editor is built from the plugin's parameter list; a slider move is queued.
    panel.fx["bass"].list.setCurrentRow(0)
    assert "Bass · slot 1: Gain" in panel.params.title.text()
    slider = panel.params.sliders["gain_db"]
    slider.setValue(round((-6 + 60) / 84 * 1000))
    qtbot.waitUntil(lambda: abs(engine.fx.slot("bass", 0).params["gain_db"] + 6) < 0.1)
    item = panel.fx["bass"].list.item(0)
    item.setCheckState(Qt.CheckState.Unchecked)
    qtbot.waitUntil(lambda: engine.fx.slot("bass", 0).bypass)
    panel.key_box.setValue(2)
    qtbot.waitUntil(lambda: engine.fx is not None and engine.fx.shifter is not None, timeout=20000)
    qtbot.waitUntil(lambda: window.last_snapshot.key == 2 and window.last_snapshot.running)
    assert window.last_snapshot.fx_latency_ms > 50
    assert not window.last_error
    window.grab().save(str(tmp_path / "fx.png"))
    assert Path(tmp_path / "fx.png").stat().st_size > 10000


def test_presets_carry_chains_and_key():
    stems = ("vocals", "bass", "drums", "other")
    mix = MixState.neutral(stems)
    fx = {"bass": (SlotSpec("Gain", {"gain_db": -6.0}),), "master": (SlotSpec("Limiter"),)}
    saved = MixState(mix.strips, 0.0, False, fx, -2)
    back = MixState.from_json(saved.to_json(), stems)
    assert back.fx == fx and back.key == -2
    assert MixState.from_json(mix.to_json(), stems).fx is None  # keeps the current chains
    with pytest.raises(ValueError, match="preset: bass slot 1: unknown plugin 'Fuzz'"):
        MixState.from_json('{"fx": {"bass": [{"plugin": "Fuzz"}]}}', stems)
