"""The dark look: palette, one colour per stem, and the style sheet."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#1b1d23"
PANEL = "#23262e"
RAISED = "#2d313b"
TEXT = "#d8dbe2"
DIM_TEXT = "#8a909c"
ACCENT = "#4aa3ff"
WARNING = "#e8a33d"
ERROR = "#e5534b"

# Colours chosen to stay distinct for the common colour-vision deficiencies.
STEM_COLOURS = {
    "input": "#b0b6c3",
    "vocals": "#ff6b8b",
    "bass": "#4aa3ff",
    "drums": "#f5b942",
    "other": "#5fd38d",
    "master": "#e6e6e6",
}
FALLBACK_COLOURS = ("#c678dd", "#56b6c2", "#d19a66", "#98c379")


def stem_colour(name: str, index: int = 0) -> QColor:
    """The colour of a stem (or of ``input`` / ``master``); unknown stems get a fixed one."""
    hex_ = STEM_COLOURS.get(name, FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)])
    return QColor(hex_)


STYLE_SHEET = f"""
QWidget {{ background: {BACKGROUND}; color: {TEXT}; font-size: 10pt; }}
QFrame#strip, QFrame#panel {{ background: {PANEL}; border-radius: 6px; }}
QLabel#dim {{ color: {DIM_TEXT}; }}
QLabel#notice {{ background: #3a2f1c; color: {WARNING}; border-radius: 4px; padding: 4px 8px; }}
QPushButton, QToolButton {{
    background: {RAISED}; border: 1px solid #3a3f4b; border-radius: 4px; padding: 3px 8px;
}}
QPushButton:hover, QToolButton:hover {{ border-color: {ACCENT}; }}
QPushButton:checked, QToolButton:checked {{ background: {ACCENT}; color: #0d1117; }}
QPushButton#mute:checked {{ background: {ERROR}; color: #0d1117; }}
QPushButton#solo:checked {{ background: {WARNING}; color: #0d1117; }}
QPushButton#record:checked {{ background: {ERROR}; color: white; }}
QComboBox, QSpinBox, QDoubleSpinBox, QLineEdit {{
    background: {RAISED}; border: 1px solid #3a3f4b; border-radius: 4px; padding: 2px 6px;
}}
QSlider::groove:vertical {{ background: #14161a; width: 6px; border-radius: 3px; }}
QSlider::handle:vertical {{
    background: {TEXT}; height: 14px; margin: 0 -8px; border-radius: 3px;
}}
QSlider::groove:horizontal {{ background: #14161a; height: 6px; border-radius: 3px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 3px; }}
QSlider::handle:horizontal {{
    background: {TEXT}; width: 12px; margin: -5px 0; border-radius: 6px;
}}
QStatusBar {{ background: {PANEL}; color: {DIM_TEXT}; }}
QStatusBar QLabel {{ background: transparent; padding: 0 6px; }}
QMenu {{ background: {PANEL}; border: 1px solid #3a3f4b; }}
QMenu::item:selected {{ background: {ACCENT}; color: #0d1117; }}
"""


def apply_theme(app: QApplication) -> None:
    """Give the application the dark palette and style sheet (Fusion keeps it portable)."""
    app.setStyle("Fusion")
    pal = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, BACKGROUND),
        (QPalette.ColorRole.Base, PANEL),
        (QPalette.ColorRole.AlternateBase, RAISED),
        (QPalette.ColorRole.Button, RAISED),
        (QPalette.ColorRole.Text, TEXT),
        (QPalette.ColorRole.WindowText, TEXT),
        (QPalette.ColorRole.ButtonText, TEXT),
        (QPalette.ColorRole.Highlight, ACCENT),
        (QPalette.ColorRole.ToolTipBase, PANEL),
        (QPalette.ColorRole.ToolTipText, TEXT),
    ):
        pal.setColor(role, QColor(colour))
    app.setPalette(pal)
    app.setStyleSheet(STYLE_SHEET)
