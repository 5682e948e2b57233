"""The window on a real clocked device (JACK dummy server), and the server dying under it.

In a subprocess: a stream whose server died can never be closed in that process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from realtime.jack import JackServer

pytestmark = [pytest.mark.jack, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "model" / "demo" / "demo_song.flac"


def test_window_plays_on_jack_and_reports_a_vanished_server(tmp_path):
    server = JackServer("stemlive-gui", 48000, 256)
    stats = tmp_path / "stats.json"
    env = {**os.environ, "JACK_DEFAULT_SERVER": server.name, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "realtime.cli", "gui", str(DEMO), "--output", "JACK Audio",
         "--settings", str(tmp_path / "gui.ini"), "--quit-after", "12", "--stats", str(stats)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        playing = False
        while time.monotonic() < deadline and not playing:  # our ports appear once it streams
            playing = any(p.startswith("PortAudio") for p in server.ports())
            time.sleep(0.2)
        assert playing, "the window never opened its JACK stream"
        time.sleep(2.0)
        server.kill(crash=True)
        out, _ = proc.communicate(timeout=60)
    finally:
        server.kill()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    result = json.loads(stats.read_text())
    # No "choose a device" box: the engine waits for the server to come back.
    assert result["last_error"].startswith("the JACK server stopped; playing again"), result
    assert result["frames"] > 100 and result["spectrogram_columns"] > 50
    # when, one entry per miss (across the restart: the new engine counts from 0)
    assert len(result["miss_at_s"]) >= result["misses"]
