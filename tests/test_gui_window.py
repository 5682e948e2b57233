"""The main window driving the real live engine with no output device (the tiny model).

With no output device the engine still separates in real time: the meters and
spectrograms move and a notice says nothing is heard. That is what runs here;
the JACK tests (test_gui_jack.py) cover a real clocked device.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent

from gui.engine_api import EngineSettings
from gui.main_window import MainWindow
from gui.settings_store import SettingsStore
from gui.stem_strip import db_to_slider

pytest.importorskip("gui.engine_adapter")
from gui.engine_adapter import create_engine  # noqa: E402
from model.separator import Separator  # noqa: E402


@pytest.fixture
def song(tmp_path) -> Path:
    """Four seconds of stereo chords and clicks (enough to see every stem move)."""
    sr = 44100
    t = np.arange(4 * sr) / sr
    x = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 3300 * t)
    x[:: sr // 4] += 0.8
    path = tmp_path / "song.wav"
    sf.write(path, np.stack([x, 0.8 * x], 1).astype(np.float32), sr)
    return path


@pytest.fixture
def store(gui_store) -> SettingsStore:
    return gui_store


@pytest.fixture
def window(running_window):
    return running_window


def _open(qtbot, w: MainWindow, path: Path) -> None:
    w.load_file(str(path))
    qtbot.waitUntil(lambda: w.current_file == str(path), timeout=10000)
    qtbot.waitUntil(lambda: w.last_snapshot.playing, timeout=5000)


def test_headless_window_separates_and_says_nothing_is_heard(qtbot, window, song):
    _open(qtbot, window, song)
    qtbot.waitUntil(lambda: window.spectrograms.columns_drawn > 50, timeout=10000)
    snap = window.last_snapshot
    assert not snap.has_output and window.notice.isVisible()
    assert "nothing is heard" in window.notice.text()
    qtbot.waitUntil(lambda: window.mixer.strips["vocals"].meter.peak_db > -60, timeout=5000)
    assert np.percentile(window.spectrograms.image("input")[-40:], 90) > -80.0
    assert window.status_untrained.isVisible()  # the tiny preset is untrained
    assert window.status_latency.text().startswith("latency ")
    # The latency part by part, in the label's tooltip; the parts add up to the whole.
    parts = window.last_snapshot.latency_parts_ms
    assert {"model", "resample in", "safety", "device out"} <= set(parts)
    assert sum(parts.values()) == pytest.approx(window.last_snapshot.latency_ms, abs=0.05)
    assert "model: " in window.status_latency.toolTip()


def test_fader_move_changes_the_engines_gain(qtbot, window):
    engine = window.engine
    window.mixer.strips["bass"].fader.setValue(db_to_slider(-12.0))
    assert engine.gain_db("bass") == pytest.approx(-12.0)
    window.mixer.strips["bass"].fader.setValue(db_to_slider(-math.inf))
    assert engine.gain_db("bass") == -math.inf
    window.mixer.master.fader.setValue(db_to_slider(-3.0))
    assert engine.master_db() == pytest.approx(-3.0)


def test_mute_solo_and_presets_reach_the_engine(qtbot, window):
    engine = window.engine
    window.mixer.strips["vocals"].solo.click()
    assert engine.solo("vocals") and not engine.solo("bass")
    assert engine.audible() == {"vocals": True, "bass": False, "drums": False, "other": False}
    window.mixer.apply_preset("Karaoke")
    assert engine.audible() == {"vocals": False, "bass": True, "drums": True, "other": True}
    window.mixer.original.click()
    assert engine.bypass()


def test_keyboard_shortcuts(qtbot, window, song):
    _open(qtbot, window, song)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not window.last_snapshot.playing, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_1)
    assert window.mixer.mix.strips["vocals"].solo and window.engine.solo("vocals")
    qtbot.keyClick(window, Qt.Key.Key_At, Qt.KeyboardModifier.ShiftModifier)  # Shift+2, US
    assert window.mixer.mix.strips["bass"].mute
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ShiftModifier)  # other layouts
    assert window.mixer.mix.strips["drums"].mute and not window.engine.audible()["drums"]
    qtbot.keyClick(window, Qt.Key.Key_B)
    assert window.mixer.mix.bypass and window.engine.bypass()
    qtbot.keyClick(window, Qt.Key.Key_L)
    qtbot.waitUntil(lambda: window.last_snapshot.looping, timeout=3000)


def test_transport_play_pause_seek_loop(qtbot, window, song):
    _open(qtbot, window, song)
    assert window.last_snapshot.duration_s == pytest.approx(4.0, abs=0.05)
    qtbot.waitUntil(lambda: window.last_snapshot.position_s > 0.3, timeout=5000)
    window.transport.play.click()  # pause
    qtbot.waitUntil(lambda: not window.last_snapshot.playing, timeout=3000)
    held = window.last_snapshot.position_s
    qtbot.wait(300)
    assert window.last_snapshot.position_s == pytest.approx(held, abs=0.05)
    window.seek(3.0)
    qtbot.waitUntil(lambda: abs(window.last_snapshot.position_s - 3.0) < 0.1, timeout=3000)
    window.transport.loop.click()
    window.transport.play.click()  # play: it loops past the end back to the start
    qtbot.waitUntil(lambda: window.last_snapshot.position_s < 1.0, timeout=5000)
    assert window.last_snapshot.playing and window.last_snapshot.looping
    assert window.transport.time.text().endswith("/ 0:04.0")


def test_a_corrupt_file_shows_an_error_and_the_engine_keeps_running(qtbot, window, song, tmp_path):
    _open(qtbot, window, song)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" + bytes(100))
    window.load_file(str(bad))
    qtbot.waitUntil(lambda: "Could not open" in window.last_error, timeout=5000)
    assert "broken.wav" in window.last_error
    assert window.current_file == str(song)
    before = window.last_snapshot.position_s
    qtbot.waitUntil(lambda: window.last_snapshot.position_s > before + 0.2, timeout=5000)
    assert window.last_snapshot.running


def test_drop_a_file_opens_it(qtbot, window, song):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(song))])
    event = QDropEvent(
        QPointF(50, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.current_file == str(song), timeout=10000)
    assert window.store.recent_files()[0] == str(song)


def test_record_writes_wav_files(qtbot, window, song, tmp_path):
    _open(qtbot, window, song)
    window.transport.record.click()
    qtbot.waitUntil(lambda: window.last_snapshot.recording, timeout=5000)
    qtbot.wait(500)
    window.transport.record.click()
    qtbot.waitUntil(lambda: not window.last_snapshot.recording, timeout=5000)
    window.runner.wait()
    wavs = sorted(p.name for p in (tmp_path / "rec").rglob("*.wav"))
    assert wavs, "no recording written"
    assert any("vocals" in n for n in wavs)


def test_mix_and_view_survive_a_restart(qtbot, store, tmp_path):
    sep = Separator.from_preset("tiny")
    first = MainWindow(create_engine(EngineSettings(), separator=sep), store)
    qtbot.addWidget(first)
    first.mixer.strips["drums"].fader.setValue(db_to_slider(-9.0))
    first.mixer.strips["other"].mute.click()
    first.view_box.setCurrentIndex(first.view_box.findData("vocals"))
    first.close()
    store.sync()
    again = SettingsStore(QSettings(store.q.fileName(), QSettings.Format.IniFormat))
    second = MainWindow(create_engine(EngineSettings(), separator=sep), again)
    qtbot.addWidget(second)
    assert second.mixer.strips["drums"].state().gain_db == pytest.approx(-9.0)
    assert second.mixer.strips["other"].mute.isChecked()
    assert second.spectrograms.single == "vocals"
    second.close()


def _stall_until_missed(qtbot, w: MainWindow) -> None:
    """Stall the worker until the miss counter rises, then let it catch up (wet again).

    A stall while the output is still dry (after an earlier miss) adds no miss: stall again.
    """
    misses = w.last_snapshot.misses
    for _ in range(3):
        w.engine.engine.stall_worker(0.3)
        try:
            qtbot.waitUntil(lambda: w.last_snapshot.misses > misses, timeout=2000)
            break
        except qtbot.TimeoutError:
            continue
    assert w.last_snapshot.misses > misses
    qtbot.wait(700)  # the stall ends and the worker catches up


def test_the_window_notes_when_the_engine_missed(qtbot, window, song):
    """A stalled worker misses deadlines: the window records when, for --stats."""
    _open(qtbot, window, song)
    qtbot.wait(500)
    # A slow machine may miss a few deadlines while the engine starts: one entry each.
    before, misses0 = list(window.miss_at_s), window.last_snapshot.misses
    assert len(before) == misses0
    _stall_until_missed(qtbot, window)
    assert len(window.miss_at_s) == window.last_snapshot.misses
    new = window.miss_at_s[len(before) :]
    assert new and all(0.4 < t < 20 for t in new)  # after the first running frames
    assert window.miss_at_s == sorted(window.miss_at_s)


def test_misses_that_keep_coming_get_advice(qtbot, window, song):
    """Three stalls of the worker: the window says what happened and what to change."""
    _open(qtbot, window, song)
    qtbot.wait(500)
    if window.engine_notice.isVisible():  # a loaded machine: the start itself missed often
        text = window.engine_notice.text()
        assert "misses in 30 s" in text and len(window.miss_at_s) >= 3, text
        window.engine_notice.hide()
        window._advised_at = None
    else:  # a start-up miss or two give no advice
        assert len(window.miss_at_s) < 3
    for _ in range(3):
        _stall_until_missed(qtbot, window)
    qtbot.waitUntil(window.engine_notice.isVisible, timeout=2000)
    text = window.engine_notice.text()
    assert "misses in 30 s" in text
    # Which advice follows the worker's load at the miss: in this process the window's own
    # drawing shares the interpreter lock with the worker, so even the tiny model's load
    # can pass 80 % here. The advice names the load it went by.
    load = int(re.search(r"(?:needs|CPU) (\d+)%", text).group(1))
    slow, held_up = "too slow for the model" in text, "safety buffer" in text
    assert slow != held_up and (load >= 80 if slow else load <= 80)  # shown to the percent
    # Both kinds of advice, once a window.
    window._advised_at = None
    held = replace(window.last_snapshot, worker_load=0.5)
    window._advise_on_misses(window.miss_at_s[-1], held)
    assert "safety buffer" in window.engine_notice.text()
    window._advised_at = None
    busy = replace(window.last_snapshot, worker_load=0.95)
    window._advise_on_misses(window.miss_at_s[-1], busy)
    assert "too slow for the model" in window.engine_notice.text()
    assert "int8" not in window.engine_notice.text()  # already on (the default)
    window._advise_on_misses(window.miss_at_s[-1] + 1.0, held)
    assert "too slow for the model" in window.engine_notice.text()  # not again so soon
    window._advised_at = None
    window.settings = replace(window.settings, int8=False)  # the float step: int8 would help
    window._advise_on_misses(window.miss_at_s[-1], busy)
    assert "int8 arithmetic (Settings)" in window.engine_notice.text()
