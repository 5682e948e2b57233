"""The MIDI indicator in the mixer's top row: the port, a light that blinks on messages,
a Learn button and the last thing learned."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from gui.theme import ACCENT, DIM_TEXT, ERROR, RAISED

BLINK_MS = 120


class MidiIndicator(QWidget):
    """Shows; never acts. ``learn`` is the checkable button the window listens to."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.light = QLabel()
        self.light.setFixedSize(9, 9)
        self.label = QLabel("MIDI –")
        self.label.setObjectName("dim")
        self.learn = QPushButton("Learn")
        self.learn.setObjectName("learn")
        self.learn.setCheckable(True)
        self.learn.setEnabled(False)
        self.learn.setToolTip("MIDI learn: click a control, then move a knob on the controller")
        for w in (self.light, self.label, self.learn):
            lay.addWidget(w)
        self.blinks = 0
        self._off = QTimer(self)
        self._off.setSingleShot(True)
        self._off.setInterval(BLINK_MS)
        self._off.timeout.connect(lambda: self._light(DIM_TEXT if self.port else RAISED))
        self.port: str | None = None
        self.show_port(None)

    def show_port(self, port: str | None, error: str = "") -> None:
        """The connected port, or none (``error``: why not, in red)."""
        self.port = port
        self.learn.setEnabled(port is not None)
        if port is not None:
            self.label.setText(f"MIDI {_short(port)}")
            self.label.setStyleSheet("")
            self.label.setToolTip(f"MIDI control from {port!r}")
        elif error:
            self.label.setText("MIDI: port missing")
            self.label.setStyleSheet(f"color: {ERROR};")
            self.label.setToolTip(error)
        else:
            self.label.setText("MIDI –")
            self.label.setStyleSheet("")
            self.label.setToolTip("MIDI control: not connected (stemlive gui --midi PORT)")
        self._light(DIM_TEXT if port else RAISED)

    def blink(self) -> None:
        """A message came: light up for a moment."""
        self.blinks += 1
        self._light(ACCENT)
        self._off.start()

    def show_text(self, text: str, tooltip: str | None = None) -> None:
        """The learn state or the last mapping learned, after the port."""
        base = f"MIDI {_short(self.port)}" if self.port else "MIDI –"
        self.label.setText(f"{base} · {text}" if text else base)
        if tooltip is not None:
            self.learn.setToolTip(tooltip)

    def _light(self, colour: str) -> None:
        self.light.setStyleSheet(f"background: {colour}; border-radius: 4px;")


def _short(port: str | None) -> str:
    """A JACK or ALSA port name without its client prefix when it has one."""
    return (port or "").rsplit(":", 1)[-1].strip() or (port or "")
