"""Stem outputs on a real JACK graph: `stemlive play --output JACK --stem-outputs`, as run.

A JACK dummy server started here; the command in a subprocess plays a file with a
click each second through a model whose stems are known fractions of the input;
``jack_rec`` (JACK's own capture client, another process) records every stemlive
output port in the same cycles. Each pair must carry the click at the same sample,
at the level its stem (or mix) gives it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from model.weights import save_model
from realtime.jack import dummy_server
from tests.separators import known_separator
from tests.soundserver import sigint_default, wait_for

pytestmark = [pytest.mark.jack, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
RATE = 48000  # the model's is 44100: the outputs go through the resampler too
SHARES = (0.1, 0.2, 0.3, 0.4)  # vocals, bass, drums, other: each stem is this times the input
PAIRS = ("main", "vocals", "bass", "drums", "other", "monitor")
# --monitor-mix vocals=1,drums=0.5 (bass and other keep 1): 0.1 + 0.2 + 0.15 + 0.4
LEVELS = {"main": 1.0, **dict(zip(PAIRS[1:5], SHARES, strict=True)), "monitor": 0.85}


def test_every_stem_pair_gets_the_click_at_the_same_sample(tmp_path):
    song = tmp_path / "click.wav"
    x = np.zeros(RATE, np.float32)  # one second, looped: a click a second
    x[RATE // 4] = 0.8
    sf.write(song, np.stack([x, x], 1), RATE)
    weights = save_model(known_separator(SHARES).model, tmp_path / "known")
    ports = [f"stemlive:{p}_{side}" for p in PAIRS for side in "LR"]
    with dummy_server("stemlive-stems", rate=RATE, period=256) as jack:
        cmd = [
            sys.executable, "-m", "realtime.cli", "play", str(song), "--output", "JACK",
            "--stem-outputs", "--monitor-mix", "vocals=1,drums=0.5", "--model", str(weights),
            "--loop", "--seconds", "60",
        ]  # fmt: skip
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=jack.env, stderr=subprocess.PIPE, text=True,
            preexec_fn=sigint_default,
        )  # fmt: skip
        try:
            wait_for(lambda: ports[-1] in jack.ports() or proc.poll() is not None, 60, "ports")
            assert proc.poll() is None, proc.stderr.read()
            listed = jack.ports()
            assert [p for p in listed if p.startswith("stemlive:")] == ports, listed
            out = tmp_path / "rec.wav"
            rec = subprocess.run(
                # A big disk buffer (-B, frames): one period went missing once in a full
                # suite run; the failure message now shows the recorder's overruns (if any)
                # beside stemlive's own report, to tell whose it was.
                ["jack_rec", "-f", str(out), "-d", "3", "-b", "24", "-B", "262144", *ports],
                env=jack.env, capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert rec.returncode == 0, rec.stderr
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "outputs: main -> stemlive:main_L stemlive:main_R; vocals -> stemlive:vocals_L" in err
    got, rate = sf.read(out, dtype="float32")
    assert rate == RATE and got.shape[1] == len(ports) and len(got) > 2 * RATE
    main = got[:, 0]
    peaks = [i for i in range(1, len(main) - 1) if abs(main[i]) > 0.25]
    clicks = [p for k, p in enumerate(peaks) if k == 0 or p - peaks[k - 1] > RATE // 2]
    assert len(clicks) >= 2, clicks  # about three clicks in three seconds
    spaced = all(abs(b - a - RATE) <= 1 for a, b in zip(clicks, clicks[1:], strict=False))
    assert spaced, f"clicks at {clicks}; jack_rec: {rec.stderr!r}; stemlive: {err[-1500:]!r}"
    for c in clicks:
        window = got[c - 64 : c + 64]
        where = np.argmax(np.abs(window), 0)
        level = np.abs(window).max(0)
        for j, port in enumerate(ports):
            pair = port.split(":")[1].rsplit("_", 1)[0]
            # The same sample on every port, at the level its stem gives the click.
            assert where[j] == where[0], (port, where.tolist())
            assert level[j] == pytest.approx(LEVELS[pair] * level[0], rel=0.03), (port, level)


def test_a_lost_jack_cycle_is_an_xrun_and_abort_ends_the_process_thread_itself():
    """Our JACK client sees lost cycles in its own frame times (no notification-thread
    callback runs Python, see ``realtime.jack_stream``) and its process thread ends
    itself before deactivate, so JACK never cancels it inside Python."""
    from realtime.jack_stream import JackStream

    calls: list[bool] = []
    late_at = 40

    def callback(indata, outdata, frames, _time, status) -> None:
        calls.append(bool(status))
        outdata[:] = indata[:frames, :1]
        if len(calls) == late_at:
            time.sleep(0.05)  # ~10 periods of 5.3 ms: the server goes on without us

    with dummy_server("stemlive-xrun", rate=RATE, period=256):
        stream = JackStream(["in_L"], ["out_L"], RATE, 256, callback, connect_main=False)
        try:
            stream.start()
            wait_for(lambda: len(calls) > late_at + 40, 20, "cycles after the late one")
            stream.abort()
            ended = stream._ended.is_set()
            n = len(calls)
            time.sleep(0.1)
            after = len(calls)
        finally:
            stream.close()
    assert not any(calls[:late_at]), calls[:late_at]  # on time: no xrun
    assert any(calls[late_at : late_at + 3]), calls[late_at : late_at + 5]  # the lost cycles
    assert not any(calls[late_at + 5 :]), calls[late_at + 5 :]  # back on time
    assert ended and after == n  # the thread ended itself; no cycle after abort
