"""`stemlive play`, `live`, `devices` as a user runs them: subprocesses, real files, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from realtime import BENCH_PERIOD, DEFAULT_SAFETY_MS
from realtime.memlock import may_lock_all
from tests.soundserver import sigint_default

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "model" / "demo" / "demo_song.flac"


def _stemlive(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "realtime.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        **kw,
    )


def test_play_silently_records_a_karaoke_mix(tmp_path):
    r = _stemlive(
        "play", str(DEMO), "--output", "none", "--mute", "vocals", "--seconds", "2",
        "--record", str(tmp_path / "take"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "latency" in r.stderr and "misses" in r.stderr
    # The latency part by part, once at the start (no resampling at the model's rate).
    assert "= model " in r.stderr and "resample in 0.0 + " in r.stderr, r.stderr
    assert f"safety {DEFAULT_SAFETY_MS:.1f} + " in r.stderr, r.stderr
    mix, rate = sf.read(tmp_path / "take" / "mix.wav")
    vocals, _ = sf.read(tmp_path / "take" / "vocals.wav")
    assert rate == 44100 and 1.5 * rate < len(mix) < 3 * rate
    assert np.abs(mix).max() > 0.01 and np.abs(vocals).max() > 0.01


def test_ctrl_c_stops_cleanly_and_closes_the_recording(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "realtime.cli", "play", str(DEMO), "--output", "none",
         "--record", str(tmp_path / "take")],
        cwd=ROOT, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default,
    )  # fmt: skip
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stderr.read(1), "")))
    reader.start()
    deadline = time.monotonic() + 60
    while "latency" not in "".join(chunks) and time.monotonic() < deadline:
        time.sleep(0.1)  # model load and warm-up take longer on a loaded machine
    assert "latency" in "".join(chunks), "".join(chunks)  # the status line: streaming
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0, "".join(chunks)
    reader.join(timeout=10)
    err = "".join(chunks)
    assert "Traceback" not in err and "recorded 5 files" in err
    for stem in ("mix", "vocals", "bass", "drums", "other"):
        info = sf.info(tmp_path / "take" / f"{stem}.wav")  # a valid, closed WAV header
        # Stopped by the Ctrl-C, not by the 20 s song's end.
        assert 1.0 * 44100 < info.frames < 15 * 44100, (stem, info.frames)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["play", "/no/such.wav", "--output", "none"], "no such file"),
        (["play", str(DEMO), "--output", "no-such-card"], "no output device 'no-such-card'"),
        (["play", str(DEMO), "--output", "none", "--gain", "kazoo=3"], "STEM=DB"),
        (["play", str(DEMO), "--output", "none", "--block", "3"], "block size"),
        (["live", "--input", "none", "--output", "none"], "needs an input device"),
    ],
)
def test_bad_input_gives_one_clear_line(args, message):
    r = _stemlive(*args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr


def test_devices_lists_the_jack_dummy_server():
    r = _stemlive("devices", "--jack-dummy")
    assert r.returncode == 0, r.stderr
    assert "JACK Audio Connection Kit" in r.stdout


@pytest.mark.jack
def test_livebench_measures_the_round_trip_it_states():
    r = _stemlive("livebench", "--preset", "tiny", "--seconds", "3", "--safety-ms", "10", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    # Loopback cross-correlation on a JACK dummy server at 48 kHz: to the sample.
    assert abs(res["measured_minus_reported"]) <= 1, res
    parts = res["latency_parts_ms"]
    assert sum(parts.values()) == pytest.approx(res["latency_ms"], abs=0.1)
    # One JACK period (the benchmark's default) for the worker's turn-around.
    block_ms = 1000 * BENCH_PERIOD / 48000
    assert parts["safety"] == 10.0 and parts["block"] == pytest.approx(block_ms, abs=0.01)
    assert res["memory_locked"] == may_lock_all()  # pages pinned wherever that is safe
    assert 0.0 < parts["resample in"] < 1.0 and 0.0 < parts["resample out"] < 1.0
