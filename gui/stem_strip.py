"""A channel strip: name, meter with peak hold, dB fader (-inf..+6), mute and solo."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from gui.meter import LevelMeter
from gui.presets import GAIN_MAX_DB, GAIN_MIN_DB, StripState

FADER_STEPS_PER_DB = 10  # slider is integer: tenths of a dB


def slider_to_db(value: int) -> float:
    """The slider's bottom notch is -inf; the rest is linear in dB."""
    db = value / FADER_STEPS_PER_DB
    return -math.inf if db <= GAIN_MIN_DB else db


def db_to_slider(db: float) -> int:
    if db == -math.inf or db <= GAIN_MIN_DB:
        return int(GAIN_MIN_DB * FADER_STEPS_PER_DB)
    return int(round(min(GAIN_MAX_DB, db) * FADER_STEPS_PER_DB))


def format_db(db: float) -> str:
    return "-inf" if db == -math.inf else f"{db:+.1f}"


class StemStrip(QFrame):
    """One stem's controls. Emits ``changed(name, StripState)`` on any user change.

    Double-clicking the dB readout returns the fader to 0 dB. ``set_audible``
    greys the strip when another stem's solo silences it.
    """

    changed = Signal(str, object)

    def __init__(
        self,
        name: str,
        colour: QColor,
        has_buttons: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName("strip")
        self._updating = False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)

        self.title = QLabel(name.capitalize())
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setStyleSheet(
            f"color: {colour.name()}; font-weight: bold; background: transparent;"
        )
        lay.addWidget(self.title)
        colour_bar = QFrame()
        colour_bar.setFixedHeight(3)
        colour_bar.setStyleSheet(f"background: {colour.name()}; border-radius: 1px;")
        lay.addWidget(colour_bar)

        row = QHBoxLayout()
        row.setSpacing(6)
        self.fader = QSlider(Qt.Orientation.Vertical)
        self.fader.setObjectName(f"fader_{name}")
        self.fader.setRange(
            int(GAIN_MIN_DB * FADER_STEPS_PER_DB), int(GAIN_MAX_DB * FADER_STEPS_PER_DB)
        )
        self.fader.setValue(0)
        self.fader.setPageStep(3 * FADER_STEPS_PER_DB)
        self.fader.setSingleStep(FADER_STEPS_PER_DB // 2)
        self.fader.setToolTip(f"{name} gain in dB (bottom = off)")
        self.meter = LevelMeter(colour)
        row.addStretch(1)
        row.addWidget(self.fader)
        row.addWidget(self.meter)
        row.addStretch(1)
        lay.addLayout(row, 1)

        self.readout = QLabel("+0.0 dB")
        self.readout.setObjectName("dim")
        self.readout.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.readout.setToolTip("Double-click for 0 dB")
        self.readout.mouseDoubleClickEvent = lambda _e: self.fader.setValue(0)
        lay.addWidget(self.readout)

        self.mute = QPushButton("M")
        self.solo = QPushButton("S")
        self.mute.setObjectName("mute")
        self.solo.setObjectName("solo")
        buttons = QHBoxLayout()
        for b, tip in ((self.mute, "Mute"), (self.solo, "Solo")):
            b.setCheckable(True)
            b.setFixedWidth(30)
            b.setToolTip(f"{tip} {name}")
            buttons.addWidget(b)
        if has_buttons:
            lay.addLayout(buttons)
        else:
            self.mute.hide()
            self.solo.hide()

        self.fader.valueChanged.connect(self._on_user_change)
        self.mute.toggled.connect(self._on_user_change)
        self.solo.toggled.connect(self._on_user_change)
        self._show_db(0.0)
        self.setMinimumWidth(92)

    def state(self) -> StripState:
        return StripState(
            slider_to_db(self.fader.value()), self.mute.isChecked(), self.solo.isChecked()
        )

    def set_state(self, state: StripState) -> None:
        """Show a state without emitting ``changed`` (the caller already knows it)."""
        self._updating = True
        try:
            self.fader.setValue(db_to_slider(state.gain_db))
            self.mute.setChecked(state.mute)
            self.solo.setChecked(state.solo)
            self._show_db(state.gain_db)
        finally:
            self._updating = False

    def set_audible(self, audible: bool) -> None:
        """Dim the strip when mute, solo elsewhere, or -inf silence it."""
        self.title.setEnabled(audible)
        self.meter.setEnabled(audible)

    def _show_db(self, db: float) -> None:
        self.readout.setText(f"{format_db(db)} dB")

    def _on_user_change(self, *_args: object) -> None:
        state = self.state()
        self._show_db(state.gain_db)
        if not self._updating:
            self.changed.emit(self.name, state)
