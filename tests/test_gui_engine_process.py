"""The engine in a process of its own: the shared-memory snapshot, coalesced parameters,
and the window on a JACK dummy server recovering from kill -9 of its engine mid-recording.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gui.engine_api import EngineSettings, GuiSnapshot, Levels
from gui.engine_link import HANG_S
from gui.engine_process import EngineProcess
from gui.engine_shm import BINS, HISTORY, SnapshotBlock
from gui.main_window import MainWindow
from gui.stem_strip import db_to_slider
from realtime.fx import SlotSpec
from realtime.jack import JackServer
from realtime.memlock import may_lock_all

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "model" / "demo" / "demo_song.flac"
STEMS = ("vocals", "bass", "drums", "other")


def _numbered(n: int) -> GuiSnapshot:
    """A snapshot whose every number is ``n``: a torn read mixes two of them."""
    k = 1 + len(STEMS)
    return GuiSnapshot(
        levels={s: Levels(float(n), float(n)) for s in ("input", *STEMS, "master")},
        spectrogram=np.full((k, HISTORY, BINS), n, np.float32),
        spectrogram_sources=("input", *STEMS),
        spectrogram_count=n,
        spectrogram_freqs=np.full(BINS, n, np.float32),
        position_s=float(n),
        xruns=n,
        outputs=("main",),
        latency_parts_ms={"model": float(n), "safety": float(n)},
    )


def test_snapshot_block_never_gives_a_torn_frame():
    k = 1 + len(STEMS)
    owner = SnapshotBlock.create(k)
    reader = SnapshotBlock.attach(owner.name, k)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # interleave writer and reader as often as possible
    stop = threading.Event()

    def write() -> None:
        n = 1
        while not stop.is_set():
            owner.write(_numbered(n))
            n += 1

    writer = threading.Thread(target=write)
    try:
        assert reader.read() == GuiSnapshot()  # nothing written yet
        writer.start()
        seen = set()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.0:
            s = reader.read()
            if s.spectrogram is None:
                continue
            n = s.xruns
            seen.add(n)
            assert s.position_s == n and s.spectrogram_count == n
            assert s.latency_parts_ms == {"model": n, "safety": n}
            assert s.levels["master"] == Levels(n, n) and s.outputs == ("main",)
            assert (s.spectrogram == n).all() and (s.spectrogram_freqs == n).all()
        assert len(seen) > 20  # it did read while the writer wrote
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(old)
        reader.close()
        owner.close()


def test_parameters_are_mirrored_and_coalesced():
    engine = EngineProcess(EngineSettings(), preset="tiny", spare=False)
    try:
        assert engine.stems == STEMS
        for i in range(2000):  # a fader dragged faster than anything can send
            engine.set_gain_db("bass", -40.0 + i * 0.02)
        engine.set_mute("drums", True)
        engine.set_fx_param("vocals", 0, "gain_db", 1.0)  # no such slot: ignored, as in-process
        with pytest.raises(ValueError, match="unknown stem"):
            engine.set_gain_db("kazoo", 0.0)
        assert engine.gain_db("bass") == pytest.approx(-0.02) and engine.mute("drums")
        time.sleep(0.2)
        state = engine.engine_state()
        assert state["gain_db"]["bass"] == pytest.approx(-0.02)
        assert state["mute"]["drums"] and not state["mute"]["bass"]
        assert engine.params_asked == 2002
        assert engine.params_sent < 1000, engine.params_sent
    finally:
        engine.close()
    assert not engine._child.proc.is_alive()


def test_a_hung_engine_is_killed_and_restarted_with_its_state():
    engine = EngineProcess(EngineSettings(), preset="tiny", spare=False)
    try:
        engine.set_gain_db("vocals", -9.0)
        engine.set_mute("bass", True)
        time.sleep(0.5)
        old = engine._child
        os.kill(old.pid, signal.SIGSTOP)  # alive, but answers nothing: as a deadlock would
        stopped = time.monotonic()
        events: list = []
        deadline = stopped + HANG_S + 30.0
        while time.monotonic() < deadline and not any(e.kind == "engine-restarted" for e in events):
            events += engine.poll_events()
            time.sleep(0.05)
        lost = [e for e in events if e.kind == "engine-lost"]
        assert lost and "stopped answering" in lost[0].message, events
        assert any(e.kind == "engine-restarted" for e in events), events
        assert engine.pid != old.pid and old.hung
        assert not old.proc.is_alive()  # killed, not left stopped
        assert old.died_at - stopped >= HANG_S - 0.2  # not before it was overdue
        state = engine.engine_state()
        assert state["gain_db"]["vocals"] == pytest.approx(-9.0) and state["mute"]["bass"]
    finally:
        engine.close()


@pytest.mark.jack
@pytest.mark.slow
def test_window_recovers_from_kill_9_of_its_engine_mid_recording(
    qtbot, gui_store, tmp_path, monkeypatch
):
    server = JackServer("stemlive-proc", 48000, 256)
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
    settings = EngineSettings(output_device="JACK Audio")
    gui_store.set_engine_settings(settings)
    engine = EngineProcess(settings, preset="tiny")
    w = MainWindow(engine, gui_store, record_root=tmp_path / "rec")
    qtbot.addWidget(w)
    try:
        w.show()
        w.start(str(DEMO))
        qtbot.waitUntil(lambda: w.last_snapshot.playing, timeout=60000)
        w.transport.loop.setChecked(True)
        w.mixer.strips["vocals"].fader.setValue(db_to_slider(-7.0))
        w.mixer.strips["drums"].mute.setChecked(True)
        w.mixer.master.fader.setValue(db_to_slider(-2.0))
        w._set_monitor_gain("bass", -5.0)
        chains = {"bass": (SlotSpec("Gain", {"gain_db": -3.0}),)}
        w.mixer.set_mix(replace(w.mixer.mix, fx=chains, key=2))
        qtbot.waitUntil(lambda: engine.engine_state()["key"] == 2, timeout=30000)
        w.mixer.set_mix(replace(w.mixer.mix, fx={"bass": (SlotSpec("Gain", {"gain_db": -4.5}),)}))
        qtbot.waitUntil(lambda: engine.spare_ready, timeout=60000)  # a warm process waits
        w.seek(5.0)
        w.transport.record.setChecked(True)
        qtbot.waitUntil(lambda: engine.take is not None, timeout=10000)
        take, started = engine.take, engine.take_started
        qtbot.wait(2000)
        before = engine.engine_state()
        old_pid = engine.pid
        killed = time.monotonic()
        os.kill(old_pid, signal.SIGKILL)
        qtbot.waitUntil(lambda: "stopped" in w.engine_notice.text(), timeout=1000)
        said = time.monotonic() - killed
        qtbot.waitUntil(lambda: w.engine_restarts == 1, timeout=5000)
        back = time.monotonic() - killed
        after = engine.engine_state()
        qtbot.waitUntil(lambda: w.last_snapshot.playing and w.last_snapshot.running, timeout=2000)
        w.grab().save(str(tmp_path / "restarted.png"))
        shot = os.environ.get("STEMLIVE_RESTART_SHOT")
        if shot:  # for a look at the window with its notice
            w.grab().save(shot)
    finally:
        w.shutdown()
        server.kill()
    assert said < 1.0
    assert back < 2.0, f"the window took {back:.2f} s to be back"
    assert engine.pid != old_pid
    assert w.engine_notice.isVisible() and "restarted in" in w.engine_notice.text()
    assert str(take) in w.engine_notice.text()  # where the recording up to the crash is
    for key in ("gain_db", "mute", "solo", "master_db", "monitor_db", "fx", "key", "file"):
        assert after[key] == before[key], key
    assert after["gain_db"]["vocals"] == pytest.approx(-7.0) and after["mute"]["drums"]
    assert after["fx"]["bass"][0].params == {"gain_db": -4.5} and after["key"] == 2
    assert after["playing"] and after["looping"] and after["running"]
    # the position is restored from the last snapshot the engine published (60 Hz), which can
    # be a frame older than the state read just before the kill (seen: 11 ms earlier)
    assert -0.1 <= after["position_s"] - before["position_s"] < 2.5
    assert after["recording"] and Path(after["recording"]) != take
    recorded = killed - started
    for name in ("mix", *STEMS):  # every file of the take reads back up to the crash
        info = sf.info(str(take / f"{name}.wav"))
        got = info.frames / info.samplerate
        assert recorded - 1.0 <= got <= recorded + 0.1, (name, got, recorded)
    assert sf.read(str(take / "mix.wav"))[0].std() > 1e-3  # music, not silence


@pytest.mark.jack
@pytest.mark.slow
def test_fault_commands_report_recovery_and_a_flood(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    base = [sys.executable, "-m", "realtime.cli", "faults"]
    kill = subprocess.run(
        [*base, "kill", "--preset", "tiny", "--kills", "1", "--every", "2", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert kill.returncode == 0, kill.stdout + kill.stderr
    result = json.loads(kill.stdout[kill.stdout.index("{") :])
    assert result["kills"] == 1 and len(result["restart_s"]) == 1
    assert result["lost_s"][0] < 1.0 and result["missing_max_s"] <= 1.0
    flood = subprocess.run(
        [*base, "flood", "--preset", "tiny", "--seconds", "3", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert flood.returncode == 0, flood.stdout + flood.stderr
    result = json.loads(flood.stdout[flood.stdout.index("{") :])
    assert result["engine_process"] and result["frames"] > 0  # the frame rate is the load's
    # every round moves the 5 faders; how many rounds fit in 3 s is the load's (170 moves seen)
    moves = result["fader_moves"]
    assert moves >= 5 and moves % 5 == 0 and 0 < result["params_sent"] <= moves


@pytest.mark.jack
@pytest.mark.slow
def test_jack_restart_and_soak_commands(tmp_path):
    """jackd killed and started again under the window: it says so and plays on into the same
    take; a short soak with effects and a key shift prints its numbers and its take reads back.
    The exit codes follow the numbers (5 s to resume, 0 misses); the times are the load's."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    base = [sys.executable, "-m", "realtime.cli"]
    restart = subprocess.run(
        [*base, "faults", "jackrestart", "--preset", "tiny", "--restarts", "1", "--down", "0.5",
         "--every", "1", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert restart.returncode in (0, 1), restart.stdout + restart.stderr
    result = json.loads(restart.stdout[restart.stdout.index("{") :])
    assert len(result["gone_s"]) == len(result["resume_s"]) == 1  # said so, and played on
    assert restart.returncode == int(result["resume_max_s"] > 5.0)
    assert result["take_s"] > 1.0 and abs(result["missing_s"]) <= 1.0, result
    chains = tmp_path / "chains.json"
    chains.write_text(json.dumps({"bass": [{"plugin": "Gain", "gain_db": -6}]}))
    soak = subprocess.run(
        [*base, "soak", "--preset", "tiny", "--minutes", "0.15", "--fx", str(chains), "--key", "1",
         "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert soak.returncode in (0, 1), soak.stdout + soak.stderr
    result = json.loads(soak.stdout[soak.stdout.index("{") :])
    assert soak.returncode == int(result["misses"] > 0)
    assert result["key"] == 1 and result["fps"] > 0 and result["worker_p99_ms"] > 0
    assert 0 < result["engine_cpu"] < 2.0  # a share of the machine's two cores
    assert abs(result["take_s"] - result["recorded_wall_s"]) <= 1.0, result
    # when each miss and xrun came (seconds into the soak), one entry each
    assert (
        len(result["miss_at_s"]) == result["misses"] and len(result["xrun_at_s"]) == result["xruns"]
    )
    assert all(0.0 <= t <= 60 * 0.15 + 1.0 for t in result["miss_at_s"] + result["xrun_at_s"])
    assert result["engine_major_faults"] >= 0  # counted in the engine process, not the window
    assert (result["engine_locked_kib"] > 0) == may_lock_all(), result  # it pinned its pages


def test_the_engine_process_loads_no_qt_and_the_window_no_torch():
    child = subprocess.run(
        [sys.executable, "-c", "import sys, gui.engine_child, gui.engine_adapter, "
         "gui.engine_shm; print('PySide6' in sys.modules)"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    window = subprocess.run(
        [sys.executable, "-c", "import sys, gui.app, gui.engine_process, gui.main_window; "
         "print('torch' in sys.modules, 'sounddevice' in sys.modules)"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert child.stdout.split() == ["False"], child.stdout
    assert window.stdout.split() == ["False", "False"], window.stdout
