"""MIDI in the window: a virtual controller on a JACK dummy server moves the mixer's
controls and the engine; MIDI learn maps a touched control to the next message and
keeps the map in the settings."""

from __future__ import annotations

import mido
import pytest
from PySide6.QtCore import QSettings, Qt

from gui.engine_adapter import create_engine
from gui.engine_api import EngineSettings
from gui.main_window import MainWindow
from gui.settings_store import SettingsStore
from gui.stem_strip import db_to_slider
from model.separator import Separator
from realtime.midi import Binding

pytestmark = [pytest.mark.jack]
PORT = "stemlive-gui-controller"


@pytest.fixture(scope="module")
def jack():
    from realtime.jack import dummy_server

    with dummy_server("stemlive-guimidi", rate=44100, period=256) as server:
        yield server


@pytest.fixture
def controller(jack):
    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
    port = backend.open_output(PORT, virtual=True, client_name="guictl")
    yield port
    port.close()


@pytest.fixture
def window(qtbot, tmp_path, jack):
    ini = str(tmp_path / "s.ini")
    engine = create_engine(EngineSettings(), separator=Separator.from_preset("tiny"))
    w = MainWindow(engine, SettingsStore(QSettings(ini, QSettings.Format.IniFormat)))
    qtbot.addWidget(w)
    w.show()
    w.start()
    qtbot.waitUntil(lambda: w.last_snapshot.running, timeout=20000)
    w.ini = ini
    yield w
    w.shutdown()


def test_a_missing_port_is_shown_not_raised(window):
    assert not window.midi.open("no-such-controller")
    assert window.mixer.midi.label.text() == "MIDI: port missing"
    assert "no-such-controller" in window.mixer.midi.label.toolTip()
    assert not window.mixer.midi.learn.isEnabled()


def test_default_map_and_learned_mappings_drive_the_engine(qtbot, window, controller, tmp_path):
    panel, engine, ind = window.mixer, window.engine.engine, window.mixer.midi
    assert window.midi.open("gui-controller")
    assert ind.label.text() == "MIDI stemlive-gui-controller" and ind.learn.isEnabled()

    controller.send(mido.Message("control_change", control=1, value=50))  # default: vocals fader
    qtbot.waitUntil(lambda: engine.mixer.gain_db("vocals") == -30.0, timeout=3000)
    assert panel.strips["vocals"].fader.value() == db_to_slider(-30.0)
    assert ind.blinks == 1

    # Learn: a note on channel 3 for the bass mute. Touching the button does not toggle it.
    qtbot.mouseClick(ind.learn, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.strips["bass"].mute, Qt.MouseButton.LeftButton)
    assert window.midi.armed == "mute:bass" and not panel.strips["bass"].mute.isChecked()
    controller.send(mido.Message("note_on", channel=2, note=60, velocity=99))
    qtbot.waitUntil(lambda: window.midi.map.target(Binding("note", 2, 60)) == "mute:bass")
    assert not engine.mixer.mute("bass")  # the learning message only learns
    assert "note 60 ch 3 → mute:bass" in ind.label.text()
    assert panel.strips["bass"].mute.toolTip().endswith("MIDI: note 60 ch 3")

    # An effect's main parameter: the Gain slot's gain_db slider, by a CC on channel 16.
    panel.fx["vocals"].add_slot("Gain")
    qtbot.waitUntil(lambda: bool(engine.fx_spec.get("vocals")), timeout=10000)
    panel.fx["vocals"].list.setCurrentRow(0)
    qtbot.mouseClick(panel.params.main_slider(), Qt.MouseButton.LeftButton)
    assert window.midi.armed == "fx:vocals:1"
    controller.send(mido.Message("control_change", channel=15, control=74, value=64))
    qtbot.waitUntil(lambda: window.midi.map.target(Binding("cc", 15, 74)) == "fx:vocals:1")
    qtbot.mouseClick(ind.learn, Qt.MouseButton.LeftButton)  # learning off
    assert not window.midi.learning

    controller.send(mido.Message("note_on", channel=2, note=60, velocity=99))
    controller.send(mido.Message("control_change", channel=15, control=74, value=127))
    got = window.midi.input
    try:
        qtbot.waitUntil(lambda: engine.mixer.mute("bass"), timeout=10000)
    finally:
        print(f"\nreceived {got.received}, shown {ind.blinks}, applied {window.midi.applied}")
    assert got.received == 5 and ind.blinks == 5
    qtbot.waitUntil(lambda: engine.fx_spec["vocals"][0].params.get("gain_db") == 24.0)
    assert panel.strips["bass"].mute.isChecked()
    assert panel.params.sliders["gain_db"].value() == 1000  # the editor shows it too

    stored = SettingsStore(QSettings(window.ini, QSettings.Format.IniFormat))
    learned = stored.midi_map(window.engine.stems)
    assert learned.target(Binding("note", 2, 60)) == "mute:bass"
    assert learned.target(Binding("cc", 15, 74)) == "fx:vocals:1"
    assert learned.target(Binding("note", 0, 37)) is None  # the default bass mute gave way
    assert stored.midi_port() == "gui-controller"
    shot = tmp_path / "midi.png"
    window.grab().save(str(shot))
    print(f"\nscreenshot: {shot}")
