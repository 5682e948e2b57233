"""The transport bar: open / recent files, play-pause, seek bar, loop, time, source, record."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSlider,
    QToolButton,
    QWidget,
)

SEEK_STEPS = 1000  # seek slider resolution over the whole song
SOURCE_FILE, SOURCE_INPUT = "file", "input"


def format_time(seconds: float) -> str:
    """``m:ss.t`` for a position or duration."""
    seconds = max(0.0, seconds)
    m, s = divmod(seconds, 60.0)
    return f"{int(m)}:{s:04.1f}"


class TransportBar(QWidget):
    """Emits what the user asks for; ``show_position`` follows the engine's snapshot.

    While the user drags the seek bar the engine's position does not move it,
    and the seek is sent once, on release.
    """

    open_requested = Signal()
    recent_chosen = Signal(str)
    play_toggled = Signal(bool)
    seek_requested = Signal(float)
    loop_toggled = Signal(bool)
    source_changed = Signal(str)
    record_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.duration_s = 0.0
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)

        self.source = QComboBox()
        self.source.addItem("File", SOURCE_FILE)
        self.source.addItem("Input device", SOURCE_INPUT)
        self.source.setToolTip("Play a song file, or separate a live input device")
        self.open_button = QToolButton()
        self.open_button.setText("Open…")
        self.open_button.setToolTip("Open a song (Ctrl+O); the arrow lists recent files")
        self.open_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.recent_menu = QMenu(self)
        self.open_button.setMenu(self.recent_menu)

        self.play = QPushButton("▶ Play")
        self.play.setCheckable(True)
        self.play.setToolTip("Play / pause (Space)")
        self.seek = QSlider(Qt.Orientation.Horizontal)
        self.seek.setRange(0, SEEK_STEPS)
        self.seek.setToolTip("Position in the song (Left/Right: 5 s)")
        self.time = QLabel("0:00.0 / 0:00.0")
        self.time.setMinimumWidth(110)
        self.time.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.loop = QPushButton("⟳ Loop")
        self.loop.setCheckable(True)
        self.loop.setToolTip("Loop the song (L)")
        self.record = QPushButton("● Rec")
        self.record.setObjectName("record")
        self.record.setCheckable(True)
        self.record.setToolTip("Record the remix and each stem to WAV (R)")
        self.file_label = QLabel("")
        self.file_label.setObjectName("dim")

        self.file_label.setMaximumWidth(180)
        for w in (self.source, self.open_button, self.file_label, self.play):
            lay.addWidget(w)
        lay.addWidget(self.seek, 1)
        for w in (self.time, self.loop, self.record):
            lay.addWidget(w)

        self.open_button.clicked.connect(self.open_requested)
        self.play.toggled.connect(self._on_play)
        self.seek.sliderReleased.connect(self._emit_seek)
        self.seek.actionTriggered.connect(self._on_seek_action)
        self.loop.toggled.connect(self.loop_toggled)
        self.record.toggled.connect(self.record_toggled)
        self.source.currentIndexChanged.connect(
            lambda _i: self.source_changed.emit(self.source.currentData())
        )

    def set_recent(self, paths: list[str]) -> None:
        self.recent_menu.clear()
        for p in paths:
            action = self.recent_menu.addAction(Path(p).name)
            action.setToolTip(p)
            action.triggered.connect(lambda _c=False, p=p: self.recent_chosen.emit(p))
        if not paths:
            self.recent_menu.addAction("(no recent files)").setEnabled(False)

    def set_source(self, source: str) -> None:
        """Show the source without emitting ``source_changed``."""
        self.source.blockSignals(True)
        self.source.setCurrentIndex(self.source.findData(source))
        self.source.blockSignals(False)
        is_file = source == SOURCE_FILE
        for w in (self.open_button, self.play, self.seek, self.loop):
            w.setEnabled(is_file)

    def set_playing(self, playing: bool) -> None:
        """Follow the engine without emitting ``play_toggled``."""
        if self.play.isChecked() != playing:
            self.play.blockSignals(True)
            self.play.setChecked(playing)
            self.play.blockSignals(False)
        self.play.setText("❚❚ Pause" if playing else "▶ Play")

    def set_looping(self, on: bool) -> None:
        if self.loop.isChecked() != on:
            self.loop.blockSignals(True)
            self.loop.setChecked(on)
            self.loop.blockSignals(False)

    def set_recording(self, on: bool) -> None:
        if self.record.isChecked() != on:
            self.record.blockSignals(True)
            self.record.setChecked(on)
            self.record.blockSignals(False)

    def show_position(self, position_s: float, duration_s: float) -> None:
        self.duration_s = duration_s
        if not self.seek.isSliderDown() and duration_s > 0:
            self.seek.blockSignals(True)
            self.seek.setValue(int(round(SEEK_STEPS * min(1.0, position_s / duration_s))))
            self.seek.blockSignals(False)
        self.time.setText(f"{format_time(position_s)} / {format_time(duration_s)}")

    def _on_play(self, on: bool) -> None:
        self.play.setText("❚❚ Pause" if on else "▶ Play")
        self.play_toggled.emit(on)

    def _on_seek_action(self, action: int) -> None:
        # Clicks and keys on the groove move the slider without a press/release pair.
        if not self.seek.isSliderDown():
            self.seek.setValue(self.seek.sliderPosition())
            self._emit_seek()

    def _emit_seek(self) -> None:
        if self.duration_s > 0:
            self.seek_requested.emit(self.duration_s * self.seek.value() / SEEK_STEPS)
