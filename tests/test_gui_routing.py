"""The window's routing on a real JACK graph: stem outputs chosen in the dialog become ports.

Also saves the screenshot the README shows (tests/artifacts/routing.png): the window
with its routing dialog over it, saying where each output goes.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QPainter

from gui.engine_adapter import create_engine
from gui.engine_api import EngineSettings
from gui.main_window import MainWindow
from gui.settings_store import SettingsStore
from gui.theme import apply_theme
from model.separator import Separator
from realtime.jack import dummy_server

pytestmark = [pytest.mark.jack, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "model" / "demo" / "demo_song.flac"
ARTIFACTS = ROOT / "tests" / "artifacts"


def test_routing_dialog_makes_ports_and_drives_the_monitor_mix(qtbot, qapp, tmp_path):
    apply_theme(qapp)
    store = SettingsStore(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    store.set_engine_settings(
        EngineSettings(output_device="JACK", stem_outputs=("vocals",), monitor_mix=True)
    )
    store.set_monitor_gains({"vocals": 3.0, "bass": -math.inf})
    with dummy_server("stemlive-gui-routing", rate=44100, period=256) as jack:
        engine = create_engine(EngineSettings(), separator=Separator.load())
        w = MainWindow(engine, store)
        qtbot.addWidget(w)
        w.resize(1280, 800)
        w.show()
        w.start(str(DEMO))
        try:  # the window closes before the JACK server goes, also when a check fails
            qtbot.waitUntil(lambda: w.last_snapshot.position_s > 2.0, timeout=30000)
            assert "stemlive:vocals_L" in jack.ports() and "stemlive:monitor_R" in jack.ports()
            assert "stemlive:drums_L" not in jack.ports()
            # The stored monitor faders reached the engine at start.
            assert engine.monitor_gain_db("vocals") == 3.0
            assert engine.monitor_gain_db("bass") == -math.inf

            dialog = w.open_routing()
            qtbot.waitUntil(
                lambda: "stemlive:vocals_L" in dialog.where_labels["vocals"].text(), timeout=5000
            )
            assert "stemlive:main_L" in dialog.where_labels["main"].text()
            dialog.sliders["drums"].setValue(-6)  # a monitor fader acts at once, no restart
            assert engine.monitor_gain_db("drums") == -6.0
            assert store.monitor_gains(engine.stems)["drums"] == -6.0

            dialog.stem_boxes["drums"].setChecked(True)  # a new output: applied by a restart
            dialog.apply_button.click()
            qtbot.waitUntil(lambda: "stemlive:drums_L" in jack.ports(), timeout=30000)
            qtbot.waitUntil(
                lambda: "stemlive:drums_R" in dialog.where_labels["drums"].text(), timeout=10000
            )
            assert w.last_snapshot.outputs == ("main", "vocals", "drums", "monitor")
            assert engine.monitor_gain_db("drums") == -6.0  # survived the restart
            assert store.engine_settings().stem_outputs == ("vocals", "drums")

            qtbot.waitUntil(lambda: w.last_snapshot.position_s > 4.0, timeout=30000)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = w.grab()
            over = dialog.grab()
            painter = QPainter(shot)
            painter.drawPixmap(shot.width() - over.width() - 40, 120, over)
            painter.end()
            assert shot.save(str(ARTIFACTS / "routing.png"))
            assert not w.last_error, w.last_error
        finally:
            w.shutdown()
