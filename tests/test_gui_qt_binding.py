"""The Qt binding keeps Python's reference counts right.

PySide6 6.12.0 on Python 3.11 released a reference to None on every call of a
method returning void: a window at 30 fps aborted the interpreter ("deallocating
None") within about 20 seconds. pyproject pins below it; this catches a binding
that does it again.
"""

import sys

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter


def test_painting_does_not_release_none(qapp):
    image = QImage(64, 64, QImage.Format.Format_RGB32)
    before = sys.getrefcount(None)
    for _ in range(500):
        p = QPainter(image)
        p.fillRect(QRectF(1, 2, 3, 4), QColor("#123456"))
        p.translate(2, 0)
        p.drawLine(0, 1, 5, 1)
        p.end()
    assert sys.getrefcount(None) - before > -100  # 6.12.0: about -2000
