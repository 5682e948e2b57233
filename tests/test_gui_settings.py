"""Settings, devices, recent files, the mix and user presets survive a restart."""

import math

from PySide6.QtCore import QSettings

from gui.engine_api import DeviceChoice, EngineSettings
from gui.presets import MixState
from gui.settings_dialog import SettingsDialog
from gui.settings_store import SettingsStore

STEMS = ("vocals", "bass", "drums", "other")


def _store(path) -> SettingsStore:
    return SettingsStore(QSettings(str(path), QSettings.Format.IniFormat))


def test_store_round_trip_across_instances(tmp_path):
    ini = tmp_path / "stemlive.ini"
    a = _store(ini)
    settings = EngineSettings(
        "Mic", "Speakers", 48000, "low-latency", 25.0, "/models/x", int8=False
    )
    a.set_engine_settings(settings)
    mix = MixState.neutral(STEMS).with_strip("vocals", gain_db=-math.inf, mute=True)
    a.set_mix(mix)
    for f in ("/a.wav", "/b.flac", "/a.wav"):
        a.add_recent(f)
    a.save_user_preset("My mix", mix.with_strip("bass", gain_db=-4.5))
    a.sync()
    del a
    b = _store(ini)  # a new process would see the same
    assert b.engine_settings() == settings
    assert b.mix(STEMS) == mix
    assert b.recent_files() == ["/a.wav", "/b.flac"]
    assert b.last_file() == "/a.wav"
    assert b.user_presets(STEMS)["My mix"].strips["bass"].gain_db == -4.5


def test_a_damaged_settings_file_gives_defaults(tmp_path):
    ini = tmp_path / "bad.ini"
    ini.write_text("[engine]\nsafety_ms=lots\n[mix]\nstate={not json\n")
    s = _store(ini)
    assert s.engine_settings() == EngineSettings()
    assert s.mix(STEMS) == MixState.neutral(STEMS)


def test_settings_dialog_edits_and_keeps_an_unknown_device(qtbot):
    devices = [DeviceChoice("JACK Audio Connection Kit", 2, 2, 48000.0)]
    current = EngineSettings(None, "Gone USB card", None, "standard", 10.0, None)
    dlg = SettingsDialog(current, devices, "The output device vanished: pick another")
    qtbot.addWidget(dlg)
    assert dlg.settings() == current  # nothing lost by opening and accepting
    dlg.output.setCurrentIndex(dlg.output.findData("JACK Audio Connection Kit"))
    dlg.latency.setCurrentIndex(dlg.latency.findData("low-latency"))
    dlg.safety.setValue(5.0)
    assert current.int8  # int8 arithmetic unless turned off
    dlg.arithmetic.setCurrentIndex(dlg.arithmetic.findData(False))
    s = dlg.settings()
    assert (s.output_device, s.latency_preset, s.safety_ms, s.int8) == (
        "JACK Audio Connection Kit",
        "low-latency",
        5.0,
        False,
    )


def test_the_arithmetic_setting_chooses_the_separators_step():
    """The window's engine runs the int8 step by default and says so in the model's name;
    the float setting reloads the model with the exact float step."""
    from dataclasses import replace

    from gui.engine_adapter import create_engine

    adapter = create_engine(EngineSettings())
    assert adapter.engine.separator.backend == "onnx-int8"
    assert adapter.model_name.endswith("· int8")
    adapter._load_model(replace(EngineSettings(), int8=False))
    assert adapter.engine.separator.backend == "onnx"
    assert "int8" not in adapter.model_name
