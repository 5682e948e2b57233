"""Screenshots of the window playing the demo song, offscreen and under Xvfb (xcb).

They are saved to tests/artifacts/ for people to look at, and checked here for
spectrogram content: a blank or frozen waterfall is the failure this catches.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings
from PySide6.QtGui import QImage

from gui.engine_api import EngineSettings
from gui.main_window import MainWindow
from gui.settings_store import SettingsStore
from gui.theme import apply_theme

pytest.importorskip("gui.engine_adapter")
from gui.engine_adapter import create_engine  # noqa: E402
from model.separator import Separator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
DEMO = ROOT / "model" / "demo" / "demo_song.flac"


def image_rgb(path: Path) -> np.ndarray:
    """A PNG as an (h, w, 3) uint8 array."""
    img = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    return (
        np.frombuffer(img.constBits(), np.uint8, h * bpl)
        .reshape(h, bpl)[:, : w * 3]
        .reshape(h, w, 3)
    )


def assert_spectrogram_content(rgb: np.ndarray, rect: list[int]) -> dict:
    """The waterfall region is neither blank nor flat: plenty of lit, varied pixels."""
    x, y, w, h = rect
    region = rgb[y : y + h, x : x + w].astype(np.float32)
    luma = region @ np.array([0.299, 0.587, 0.114], np.float32)
    stats = {"lit": float((luma > 60).mean()), "std": float(luma.std())}
    assert stats["lit"] > 0.10, f"spectrograms look blank: {stats}"
    assert stats["std"] > 20.0, f"spectrograms look flat: {stats}"
    # Colour, not just grey axes and text: the colour map's reds and yellows.
    warm = (region[..., 0] > 150) & (region[..., 2] < 120)
    assert warm.mean() > 0.02, f"no spectrogram colour: {stats}"
    return stats


@pytest.mark.slow
def test_screenshot_offscreen(qtbot, qapp, tmp_path):
    apply_theme(qapp)
    store = SettingsStore(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    w = MainWindow(create_engine(EngineSettings(), separator=Separator.load()), store)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    w.start(str(DEMO))
    qtbot.waitUntil(lambda: w.current_file == str(DEMO), timeout=20000)
    qtbot.waitUntil(lambda: w.last_snapshot.position_s > 5.0, timeout=20000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "window_offscreen.png"
    assert w.grab().save(str(path))
    origin = w.spectrograms.mapTo(w, QPoint(0, 0))
    rect = [origin.x(), origin.y(), w.spectrograms.width(), w.spectrograms.height()]
    assert_spectrogram_content(image_rgb(path), rect)
    w.shutdown()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="needs xvfb-run (make deps)")
def test_screenshot_under_xvfb(tmp_path):
    """The real command, `stemlive gui`, on an X server: the xcb platform, not offscreen."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot, stats = ARTIFACTS / "window_xvfb.png", tmp_path / "stats.json"
    shot.unlink(missing_ok=True)
    cmd = [
        "xvfb-run", "-a", "-s", "-screen 0 1280x1024x24",
        "env", "QT_QPA_PLATFORM=xcb",
        sys.executable, "-m", "realtime.cli", "gui", str(DEMO), "--no-output",
        "--settings", str(tmp_path / "s.ini"), "--quit-after", "7",
        "--screenshot", str(shot), "--stats", str(stats),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    s = json.loads(stats.read_text())
    assert s["frames"] > 100 and s["spectrogram_columns"] > 200, s
    assert not s["last_error"], s
    assert_spectrogram_content(image_rgb(shot), s["spectrogram_rect"])
