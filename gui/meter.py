"""A vertical peak/RMS level meter with peak hold, painted by hand (cheap at 30 fps)."""

from __future__ import annotations

import math
import time

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

METER_FLOOR_DB = -60.0
METER_TOP_DB = 6.0


def to_db(linear: float) -> float:
    """Linear amplitude to dBFS, ``-inf`` for silence."""
    return 20.0 * math.log10(linear) if linear > 0.0 else -math.inf


def db_to_fraction(db: float) -> float:
    """Where a level sits on the meter, 0 (floor) .. 1 (top)."""
    if db <= METER_FLOOR_DB:
        return 0.0
    return min(1.0, (db - METER_FLOOR_DB) / (METER_TOP_DB - METER_FLOOR_DB))


class LevelMeter(QWidget):
    """Shows RMS as a bar, peak as a thin line, and the held peak for ``hold_s`` seconds.

    The bar falls back smoothly (``fall_db_per_s``) so a 30 fps redraw does not
    flicker; a held peak above 0 dBFS turns red until the meter is clicked.
    """

    def __init__(
        self,
        colour: QColor,
        hold_s: float = 1.5,
        fall_db_per_s: float = 24.0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.colour = QColor(colour)
        self.hold_s = hold_s
        self.fall_db_per_s = fall_db_per_s
        self.peak_db = -math.inf
        self.rms_db = -math.inf
        self.held_db = -math.inf
        self.clipped = False
        self._held_at = 0.0
        self._last = time.monotonic()
        self.scale_width = 20  # room for the dB labels left of the bar
        self.setFixedWidth(self.scale_width + 14)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self.setToolTip("Peak (line), RMS (bar) and held peak; click to reset the clip light")

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(self.scale_width + 14, 200)

    def set_levels(self, peak: float, rms: float, now: float | None = None) -> None:
        """Take the latest linear peak and RMS; decay and hold are applied here."""
        now = time.monotonic() if now is None else now
        dt = max(0.0, now - self._last)
        self._last = now
        fall = self.fall_db_per_s * dt
        peak_db, rms_db = to_db(peak), to_db(rms)
        # Ballistics: rise at once, fall at a fixed rate.
        self.peak_db = max(peak_db, self.peak_db - fall if math.isfinite(self.peak_db) else peak_db)
        self.rms_db = max(rms_db, self.rms_db - fall if math.isfinite(self.rms_db) else rms_db)
        if peak_db >= self.held_db or now - self._held_at > self.hold_s:
            self.held_db, self._held_at = peak_db, now
        if peak_db > 0.0:
            self.clipped = True
        self.update()

    def reset(self) -> None:
        """Clear the held peak and the clip light."""
        self.peak_db = self.rms_db = self.held_db = -math.inf
        self.clipped = False
        self.update()

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.reset()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        x0 = self.scale_width
        w, h = self.width() - x0, self.height()
        clip_h = 4
        usable = h - clip_h - 1

        def y_of(db: float) -> float:
            return clip_h + 1 + usable * (1.0 - db_to_fraction(db))

        font = p.font()
        font.setPointSizeF(7.0)
        p.setFont(font)
        p.setPen(QColor("#8a909c"))
        for mark in (6, 0, -6, -12, -24, -36, -48):
            y = int(y_of(mark))
            p.drawText(
                QRectF(0, y - 6, x0 - 3, 12),
                Qt.AlignmentFlag.AlignRight,
                f"{mark:+d}" if mark else "0",
            )
        p.translate(x0, 0)
        p.fillRect(0, 0, w, h, QColor("#111317"))
        p.setPen(QColor("#3a3f4b"))
        for mark in (0.0, -12.0, -24.0, -48.0):
            y = int(y_of(mark))
            p.drawLine(0, y, w, y)
        rms_top = y_of(self.rms_db)
        bar = QColor(self.colour)
        bar.setAlpha(200)
        p.fillRect(QRectF(2, rms_top, w - 4, h - rms_top), bar)
        if math.isfinite(self.peak_db):
            p.fillRect(QRectF(2, y_of(self.peak_db), w - 4, 2), self.colour.lighter(130))
        if math.isfinite(self.held_db):
            hold_colour = QColor("#e5534b") if self.held_db > 0.0 else QColor("#ffffff")
            p.fillRect(QRectF(0, y_of(self.held_db) - 1, w, 2), hold_colour)
        p.fillRect(0, 0, w, clip_h, QColor("#e5534b") if self.clipped else QColor("#2d313b"))
        p.end()
