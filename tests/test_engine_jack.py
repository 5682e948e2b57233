"""The live engine against a real clocked audio graph: a JACK dummy server the tests start.

The engine's output is looped back to its own input with ``jack_connect``; the
engine plays a file as its source and captures what comes back, so a click's
round trip is measured in samples, against the latency the engine reports.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from model.errors import StemliveError
from model.separator import Separator
from realtime.engine import Engine, StreamSettings
from realtime.jack import dummy_server
from tests.separators import known_separator

pytestmark = [pytest.mark.jack, pytest.mark.slow]
DEVICE = "JACK Audio"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", params=[44100, 48000], ids=["44k1", "48k"])
def jack(request):
    with dummy_server("stemlive-test", rate=request.param, period=256) as server:
        yield server


def _clicks(path: Path, rate: int, seconds: float, at: list[float], tone: float = 0.0) -> Path:
    n = int(seconds * rate)
    x = np.zeros(n, np.float32)
    if tone:
        x += tone * np.sin(2 * np.pi * 440 * np.arange(n) / rate).astype(np.float32)
    for t in at:
        x[int(t * rate)] = 0.9
    sf.write(path, np.stack([x, x], 1), rate)
    return path


def _run(engine: Engine, jack, seconds: float, safety_ms: float = 10.0) -> np.ndarray:
    """Stream the loaded file through JACK in loopback; returns the captured input (ch, n)."""
    capture = engine.capture_input(seconds + 1)
    engine.start(
        StreamSettings(
            input_device=DEVICE, output_device=DEVICE, sample_rate=jack.rate, safety_ms=safety_ms
        )
    )
    jack.loopback()
    time.sleep(seconds)
    got = capture.read(capture.available())
    return got


def _arrivals(signal: np.ndarray, threshold: float, dead: int) -> list[int]:
    """Indices where |signal| first exceeds threshold, at least ``dead`` apart."""
    out: list[int] = []
    for i in np.flatnonzero(np.abs(signal) > threshold):
        if not out or i - out[-1] > dead:
            out.append(int(i))
    return out


@pytest.mark.parametrize("path", ["bypass", "model"])
def test_loopback_click_returns_after_exactly_the_reported_latency(jack, tmp_path, path):
    rate = jack.rate
    song = _clicks(tmp_path / "click.wav", rate, 2.5, [0.5, 1.5])
    sep = known_separator((0.25, 0.25, 0.25, 0.25))  # stems sum to the delayed input
    engine = Engine(sep)
    engine.mixer.set_bypass(path == "bypass")
    engine.open_file(song)
    try:
        # A generous safety buffer: the clicks must go through the model path (no miss)
        # even when other jobs load the machine; the latency assertions include it.
        got = _run(engine, jack, 2.5, safety_ms=60.0)
        status = engine.status()
    finally:
        engine.close()
    latency = status.latency_samples
    # The device's part, as PortAudio reports it, is one part; the engine's is another.
    assert latency > status.engine_latency_samples > sep.latency_samples
    # The parts add up to the whole; resampling (48 kHz) costs under a millisecond each way.
    parts = status.latency_parts
    assert round(sum(parts.values())) == latency
    assert parts["safety"] == round(0.060 * rate)
    resampling = parts["resample in"] + parts["resample out"]
    assert (0 < resampling < 0.002 * rate) if rate != sep.sample_rate else resampling == 0
    peaks = [
        a + int(np.argmax(np.abs(got[0, a : a + 64]))) for a in _arrivals(got[0], 0.3, rate // 4)
    ]
    sent = [int(0.5 * rate), int(1.5 * rate)]
    assert len(peaks) == 2, peaks
    tolerance = 0 if rate == sep.sample_rate else 1  # resampled: a fraction of a sample
    for p, s in zip(peaks, sent, strict=True):
        assert abs(p - s - latency) <= tolerance, (p - s, latency)
    assert status.misses == 0 and status.callback_errors == 0


def test_steady_streaming_and_a_worker_stall(jack, tmp_path):
    rate = jack.rate
    song = _clicks(tmp_path / "tone.wav", rate, 6.0, [1.0, 4.5], tone=0.2)
    engine = Engine(Separator.from_preset("tiny"))
    engine.mixer.set_bypass(True)  # the click's shape stays exact; the model still runs
    engine.open_file(song)
    try:
        capture = engine.capture_input(7.0)
        # A generous safety buffer, so that the 2 s before the stall have no miss even when
        # the host steals the CPU (the default's margin is the soak's to measure); the
        # 300 ms stall still outlasts it many times.
        settings = StreamSettings(
            input_device=DEVICE, output_device=DEVICE, sample_rate=rate, safety_ms=40.0
        )
        engine.start(settings)
        jack.loopback()
        time.sleep(2.0)
        before = engine.status()
        engine.stall_worker(0.3)  # the worker misses ~50 deadlines in a row
        time.sleep(4.0)
        after = engine.status()
        got = capture.read(capture.available())
    finally:
        engine.close()
    assert before.misses == 0 and before.callback_errors == 0
    assert after.misses >= 1 and after.hard_misses == 0
    assert after.latency_samples == before.latency_samples
    # Sound never stopped: every 10 ms window after the loopback was made carries the tone.
    start = int(0.3 * rate)
    end = int(5.9 * rate)
    win = rate // 100
    rms = np.sqrt(np.mean(got[0, start:end][: (end - start) // win * win].reshape(-1, win) ** 2, 1))
    assert rms.min() > 0.05, f"a gap in the sound: {rms.min():.3f}"
    # The click after the stall comes back after the same latency as before it.
    tone = 0.2 * np.sin(2 * np.pi * 440 * (np.arange(got.shape[1]) - before.latency_samples) / rate)
    residual = got[0] - tone
    arrivals = [start + a for a in _arrivals(residual[start:end], 0.4, rate // 4)]
    assert len(arrivals) == 2, arrivals
    tolerance = 0 if rate == 44100 else 1
    for a, sent in zip(arrivals, [int(1.0 * rate), int(4.5 * rate)], strict=True):
        peak = a + int(np.argmax(np.abs(residual[a : a + 64])))
        assert abs(peak - sent - before.latency_samples) <= tolerance, (peak - sent, before)


def test_unknown_device_is_a_clear_error(jack):
    engine = Engine(Separator.from_preset("tiny"))
    with pytest.raises(StemliveError, match="no output device 'no such card'.*JACK Audio"):
        engine.start(StreamSettings(output_device="no such card"))
    assert not engine.running


def test_killed_server_ends_the_stream_with_an_event(tmp_path):
    """The stream ends, the engine says it waits for the server, and closes at once."""
    # In a subprocess: a stream of a dead server can never be closed in that process.
    script = textwrap.dedent(
        f"""
        import os, time
        from model.separator import Separator
        from realtime.engine import Engine, StreamSettings
        from realtime.jack import JackServer
        server = JackServer("stemlive-kill", 44100, 256)
        os.environ["JACK_DEFAULT_SERVER"] = server.name
        engine = Engine(Separator.from_preset("tiny"))
        engine.open_file({str(ROOT / "model" / "demo" / "demo_song.flac")!r})
        engine.start(StreamSettings(output_device="JACK Audio"))
        time.sleep(0.5)
        assert engine.status().running
        server.kill(crash=True)
        t0 = time.monotonic()
        while engine.running and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        events = [e.kind for e in engine.poll_events()]
        print("lost after", round(time.monotonic() - t0, 2), "s; events", events)
        assert not engine.running and engine.reconnecting and "reconnecting" in events
        engine.close()
        assert not engine.reconnecting  # stopping gives up waiting for the server
        print("closed")
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "closed" in r.stdout


def test_engine_reconnects_when_the_server_comes_back(tmp_path):
    """jackd killed and started again: the engine says so, then plays on by itself with its
    settings, position, mixer and key, recording into the same take. In a subprocess, as above.
    """
    script = textwrap.dedent(
        f"""
        import os, subprocess, time
        import soundfile as sf
        from model.separator import Separator
        from realtime.engine import Engine, StreamSettings
        from realtime.jack import JackServer

        def wait(what, until, seconds=20):
            t0 = time.monotonic()
            while not until():
                assert time.monotonic() - t0 < seconds, "timed out waiting for " + what
                time.sleep(0.005)
            return time.monotonic() - t0

        server = JackServer("stemlive-restart", 48000, 256)
        os.environ["JACK_DEFAULT_SERVER"] = server.name
        try:
            engine = Engine(Separator.from_preset("tiny"))
            engine.open_file({str(ROOT / "model" / "demo" / "demo_song.flac")!r})
            engine.set_loop(True)
            engine.play()
            engine.mixer.set_gain_db("vocals", -12.0)
            engine.set_key(2)
            engine.start(StreamSettings(output_device="JACK Audio", safety_ms=30.0))
            engine.record_to({str(tmp_path / "take")!r})
            time.sleep(1.0)
            before = engine.status()
            server.kill(crash=True)
            wait("the reconnecting status", lambda: engine.status().reconnecting)
            gone = engine.status()
            assert not gone.running and gone.recording
            time.sleep(0.6)  # down for a while: the probe must not start a server
            assert subprocess.run(["jack_lsp"], env=server.env, capture_output=True).returncode
            server.restart()
            pos = engine.status().position_s
            back = wait(
                "the music to play on",
                lambda: engine.status().running and engine.status().position_s > pos + 0.05,
            )
            after = engine.status()
            events = [e.kind for e in engine.poll_events()]
            assert "reconnecting" in events and "reconnected" in events, events
            assert "device-lost" not in events, events
            assert not after.reconnecting and after.recording and after.playing
            assert after.position_s >= before.position_s  # no jump back to the start
            assert after.sample_rate == 48000 and after.key == 2
            assert after.engine_latency_samples == before.engine_latency_samples
            assert engine.mixer.gain_db("vocals") == -12.0
            links = subprocess.run(["jack_lsp", "-c"], env=server.env, capture_output=True, text=1)
            assert "stemlive:main_L\\n   system:playback_1" in links.stdout, links.stdout
            time.sleep(0.5)
            engine.stop_recording()
            info = sf.info({str(tmp_path / "take" / "mix.wav")!r})
            print("back after", round(back, 3), "s; recorded", round(info.duration, 2), "s")
            assert info.duration > 1.0
            engine.close()
        finally:
            server.kill()
        print("closed")
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "closed" in r.stdout
    print(r.stdout)
