"""Widgets on their own: meter ballistics, spectrogram history, transport signals."""

import math

import numpy as np
import pytest
from PySide6.QtGui import QColor

from gui.meter import LevelMeter
from gui.spectrogram_view import SpectrogramView, log_rows
from gui.transport import SEEK_STEPS, TransportBar, format_time


def test_meter_holds_the_peak_then_lets_it_go(qtbot):
    m = LevelMeter(QColor("red"), hold_s=1.0, fall_db_per_s=20.0)
    qtbot.addWidget(m)
    m.set_levels(0.5, 0.1, now=0.0)
    m.set_levels(0.01, 0.005, now=0.5)
    assert m.held_db == pytest.approx(20 * math.log10(0.5))
    assert m.peak_db == pytest.approx(20 * math.log10(0.5) - 10.0)  # fell 10 dB in 0.5 s
    m.set_levels(0.01, 0.005, now=2.0)
    assert m.held_db == pytest.approx(-40.0)
    assert not m.clipped
    m.set_levels(1.5, 0.5, now=2.1)
    assert m.clipped
    m.reset()
    assert not m.clipped and m.held_db == -math.inf


def test_log_rows_cover_low_notes_without_gaps():
    freqs = np.fft.rfftfreq(2048, 1 / 44100)
    edges, starts = log_rows(freqs, 160)
    assert edges[0] == pytest.approx(30.0) and edges[-1] == pytest.approx(22050.0)
    assert np.all(np.diff(starts) >= 0) and starts[-1] < len(freqs)


def test_spectrogram_draws_only_new_columns_and_restarts(qtbot):
    view = SpectrogramView(("input", "vocals"), history_s=1.0, n_rows=32)
    qtbot.addWidget(view)
    freqs = np.fft.rfftfreq(256, 1 / 8000)
    cols = np.full((2, 10, len(freqs)), -120.0, np.float32)
    cols[0, :, 40] = -20.0  # a 1250 Hz tone in the input only
    assert view.push(cols, ("input", "vocals"), 10, freqs, 0.01) == 10
    assert view.push(cols, ("input", "vocals"), 10, freqs, 0.01) == 0  # nothing new
    assert view.push(cols, ("input", "vocals"), 13, freqs, 0.01) == 3
    img = view.image("input")
    assert img.shape == (100, 32)
    assert img[-13:].max() == pytest.approx(-20.0) and img[:-13].max() < -80.0
    assert view.image("vocals").max() < -80.0
    assert view.push(cols, ("input", "vocals"), 2, freqs, 0.01) == 2  # engine restarted
    assert img[:-2].max() < -80.0
    view.set_single("vocals")
    assert view.visible_sources() == ["vocals"]
    with pytest.raises(ValueError, match="no spectrogram"):
        view.set_single("piano")


def test_transport_emits_seek_in_seconds_and_follows_the_engine(qtbot):
    bar = TransportBar()
    qtbot.addWidget(bar)
    bar.show_position(5.0, 20.0)
    assert bar.seek.value() == SEEK_STEPS // 4
    assert bar.time.text() == "0:05.0 / 0:20.0"
    with qtbot.waitSignal(bar.seek_requested) as sig:
        bar.seek.setSliderPosition(SEEK_STEPS // 2)
        bar.seek.triggerAction(bar.seek.SliderAction.SliderMove)
    assert sig.args[0] == pytest.approx(10.0)
    with qtbot.assertNotEmitted(bar.play_toggled):
        bar.set_playing(True)
    assert bar.play.isChecked()
    with qtbot.waitSignal(bar.play_toggled) as sig:
        bar.play.click()
    assert sig.args == [False]
    assert format_time(75.25) == "1:15.2"
