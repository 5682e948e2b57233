"""The routing dialog: which stems get an output of their own, and the monitor mix's faders.

Choosing outputs restarts the engine (through the window, on the runner's thread);
monitor faders act at once (lock-free parameter calls). Where each pair goes is
read from the engine's snapshot: JACK ports (``stemlive:vocals_L``...) or device
channels.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from gui.engine_api import GuiSnapshot
from gui.presets import GAIN_MAX_DB, GAIN_MIN_DB

NOT_APPLIED = "after “Apply”"


def where(snapshot: GuiSnapshot) -> dict[str, str]:
    """Output pair name -> where it goes, as the user reads it."""
    outs, ports = snapshot.outputs, snapshot.output_ports
    if not snapshot.running or not snapshot.has_output or not outs:
        return dict.fromkeys(outs, "not heard (no output device)")
    if len(ports) == 2 * len(outs):
        return {o: f"{ports[2 * i]}, {ports[2 * i + 1]}" for i, o in enumerate(outs)}
    if len(ports) == len(outs):
        return {o: f"channels {p}" for o, p in zip(outs, ports, strict=True)}
    return dict.fromkeys(outs, "")


class RoutingDialog(QDialog):
    """Edit stem outputs and the monitor mix; ``apply_requested(stems, monitor)`` to restart."""

    apply_requested = Signal(tuple, bool)

    def __init__(
        self,
        stems: tuple[str, ...],
        stem_outputs: tuple[str, ...],
        monitor_mix: bool,
        monitor_gains: dict[str, float],
        set_monitor_gain: Callable[[str, float], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("stemlive routing")
        self.stems = stems
        self._set_gain = set_monitor_gain
        self.gains = dict(monitor_gains)
        layout = QVBoxLayout(self)

        box = QGroupBox("Outputs (latency-aligned with the main mix)")
        grid = QGridLayout(box)
        grid.addWidget(QLabel("<b>Main mix</b>"), 0, 0)
        self.where_labels: dict[str, QLabel] = {"main": QLabel()}
        grid.addWidget(self.where_labels["main"], 0, 1)
        self.stem_boxes: dict[str, QCheckBox] = {}
        for row, s in enumerate(stems, start=1):
            check = QCheckBox(f"{s.capitalize()} on its own output")
            check.setChecked(s in stem_outputs)
            self.stem_boxes[s] = check
            self.where_labels[s] = QLabel()
            grid.addWidget(check, row, 0)
            grid.addWidget(self.where_labels[s], row, 1)
        self.monitor_box = QCheckBox("Monitor mix (the faders below)")
        self.monitor_box.setChecked(monitor_mix)
        self.where_labels["monitor"] = QLabel()
        grid.addWidget(self.monitor_box, len(stems) + 1, 0)
        grid.addWidget(self.where_labels["monitor"], len(stems) + 1, 1)
        for label in self.where_labels.values():
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.setColumnStretch(1, 1)
        layout.addWidget(box)

        faders = QGroupBox("Monitor mix: e.g. the singer's in-ear, with the guide vocal")
        fl = QGridLayout(faders)
        self.sliders: dict[str, QSlider] = {}
        self.value_labels: dict[str, QLabel] = {}
        for row, s in enumerate(stems):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(int(GAIN_MIN_DB) - 1, int(GAIN_MAX_DB))  # the bottom notch is -inf
            slider.setValue(_slider_value(self.gains.get(s, 0.0)))
            slider.setMinimumWidth(220)
            value = QLabel()
            value.setMinimumWidth(60)
            slider.valueChanged.connect(lambda v, s=s: self._on_fader(s, v))
            self.sliders[s], self.value_labels[s] = slider, value
            fl.addWidget(QLabel(s.capitalize()), row, 0)
            fl.addWidget(slider, row, 1)
            fl.addWidget(value, row, 2)
            self._show_value(s)
        layout.addWidget(faders)

        note = QLabel(
            "On JACK each output is a pair of ports of the client “stemlive”: connect them "
            "anywhere (qjackctl, jack_connect). On other devices the pairs follow the main "
            "mix on channels 3-4, 5-6…; the device needs that many channels."
        )
        note.setWordWrap(True)
        note.setObjectName("notice")
        layout.addWidget(note)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.apply_button = buttons.addButton(
            "Apply outputs and restart", QDialogButtonBox.ButtonRole.ApplyRole
        )
        self.apply_button.clicked.connect(self._apply)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def chosen(self) -> tuple[tuple[str, ...], bool]:
        """The stems with an output of their own, and whether the monitor mix is on."""
        stems = tuple(s for s in self.stems if self.stem_boxes[s].isChecked())
        return stems, self.monitor_box.isChecked()

    def _apply(self) -> None:
        stems, monitor = self.chosen()
        self.apply_requested.emit(stems, monitor)

    def _on_fader(self, stem: str, value: int) -> None:
        db = -math.inf if value < GAIN_MIN_DB else float(value)
        self.gains[stem] = db
        self._set_gain(stem, db)
        self._show_value(stem)

    def _show_value(self, stem: str) -> None:
        db = self.gains.get(stem, 0.0)
        self.value_labels[stem].setText("off" if db == -math.inf else f"{db:+.0f} dB")

    def show_routing(self, snapshot: GuiSnapshot) -> None:
        """Say where each output goes now; chosen but not yet applied ones say so."""
        now = where(snapshot)
        stems, monitor = self.chosen()
        for name, label in self.where_labels.items():
            on = name == "main" or name in stems or (name == "monitor" and monitor)
            label.setText(now.get(name, NOT_APPLIED) if on else "")


def _slider_value(db: float) -> int:
    if db == -math.inf or db < GAIN_MIN_DB:
        return int(GAIN_MIN_DB) - 1
    return int(round(min(db, GAIN_MAX_DB)))
