"""`stemlive faults`: the window under faults, on a JACK dummy server it starts, measured.

- ``faults kill``: the window plays a song in a loop and records; the engine
  process is killed (SIGKILL) every few seconds. Prints how long the window
  took to say so and to be back (median), and how much of each recording
  take reads back against the time it recorded.
- ``faults flood``: the window plays a song in a loop while every fader moves
  on every frame; prints misses and xruns (``--idle``: no fader moves, the
  window alone).
- ``faults jackrestart``: the window plays and records; jackd is killed, left
  down a while and started again: how long until the window says so, and
  from the server's return until the music plays on; the take reads back.
- ``soak``: the window plays and records for minutes (optionally with effect
  chains and a key shift): misses, xruns, worker times, the engine process's
  CPU, and the take's length against the time it recorded. Exit 1 on a miss.

Qt runs offscreen when there is no display.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import tempfile
import time
from pathlib import Path

from model.errors import StemliveError
from realtime import BENCH_PERIOD, add_arithmetic_argument
from realtime.memlock import locked_kib

DEMO = Path(__file__).resolve().parent.parent / "model" / "demo" / "demo_song.flac"
JACK_NAME = "stemlive-faults"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``faults kill``, ``faults flood``, ``faults jackrestart`` and ``soak``."""
    p = subparsers.add_parser(
        "faults", help="the window under faults: engine killed, a flood of fader moves"
    )
    sub = p.add_subparsers(dest="fault", metavar="FAULT", required=True)

    def common(q: argparse.ArgumentParser, period: int = 256) -> None:
        q.add_argument("--file", default=str(DEMO), help="song to loop (default: the demo)")
        q.add_argument("--model", metavar="PATH", help="weights folder (default: shipped)")
        q.add_argument("--preset", help="an untrained model preset instead (e.g. tiny)")
        q.add_argument("--safety-ms", type=float, default=None, help="safety buffer")
        add_arithmetic_argument(q)
        q.add_argument(
            "--period", type=int, default=period, help=f"JACK's period (default {period})"
        )
        q.add_argument("--fps", type=float, default=30.0, help="window redraw rate")
        q.add_argument("--json", action="store_true", help="print the result as JSON")
        q.add_argument("--screenshot", metavar="PNG", help="save the window at the end")

    k = sub.add_parser("kill", help="kill -9 the engine mid-recording, again and again")
    common(k)
    k.add_argument("--kills", type=int, default=3, help="how many times (default 3)")
    k.add_argument("--every", type=float, default=5.0, help="seconds between kills")
    k.add_argument("--record-dir", metavar="DIR", help="keep the takes here (default: temp)")
    k.add_argument(
        "--hang", action="store_true",
        help="SIGSTOP instead: the engine hangs; the window's watchdog must kill it",
    )  # fmt: skip
    k.set_defaults(func=_run_kill)
    f = sub.add_parser("flood", help="every fader moves on every frame during playback")
    common(f)
    f.add_argument("--seconds", type=float, default=60.0, help="how long (default 60)")
    f.add_argument("--idle", action="store_true", help="no fader moves: the window alone")
    f.add_argument("--in-process", action="store_true", help="the engine in the window's process")
    f.set_defaults(func=_run_flood)
    j = sub.add_parser("jackrestart", help="kill jackd and start it again, mid-recording")
    common(j)
    j.add_argument("--restarts", type=int, default=3, help="how many times (default 3)")
    j.add_argument("--down", type=float, default=1.0, help="seconds the server stays down")
    j.add_argument("--every", type=float, default=3.0, help="seconds of music between restarts")
    j.add_argument("--record-dir", metavar="DIR", help="keep the take here (default: temp)")
    j.set_defaults(func=_run_jackrestart)
    k = subparsers.add_parser(
        "soak",
        help="the window on JACK for minutes, looping and recording: misses, xruns, CPU",
        description="The window (offscreen without a display) on a JACK dummy server it "
        "starts (48 kHz, --period frames), the song looping and recording, redrawn at --fps. "
        "Exit 1 if the worker missed a deadline.",
    )
    common(k, BENCH_PERIOD)
    k.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    k.add_argument("--fx", metavar="FILE", help="effect chains from a chain file")
    k.add_argument("--key", type=int, metavar="N", help="shift the accompaniment N semitones")
    k.add_argument("--record-dir", metavar="DIR", help="keep the take here (default: temp)")
    k.set_defaults(func=_run_soak)


class _Session:
    """A JACK dummy server, a QApplication and the window on an engine process."""

    def __init__(
        self,
        args: argparse.Namespace,
        record_root: Path,
        in_process: bool = False,
        max_restarts: int = 3,
    ):
        if not os.environ.get("DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from realtime.jack import JackServer

        if not Path(args.file).is_file():
            raise StemliveError(f"{args.file}: no such file")
        self.server = JackServer(JACK_NAME, 48000, args.period)
        os.environ["JACK_DEFAULT_SERVER"] = JACK_NAME
        self.tmp = Path(tempfile.mkdtemp(prefix="stemlive-faults-"))
        try:
            self._open(args, record_root, in_process, max_restarts)
        except BaseException:
            self.close()
            raise

    def _open(self, args, record_root: Path, in_process: bool, max_restarts: int) -> None:
        from dataclasses import replace

        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        from gui.engine_api import EngineSettings
        from gui.engine_process import EngineProcess
        from gui.main_window import MainWindow
        from gui.settings_store import SettingsStore
        from gui.theme import apply_theme
        from realtime.fx import load_chains

        self.app = QApplication.instance() or QApplication(["stemlive"])
        apply_theme(self.app)
        settings = EngineSettings(
            output_device="JACK Audio", model_folder=args.model, int8=args.arithmetic == "int8"
        )
        if args.safety_ms is not None:
            settings = replace(settings, safety_ms=args.safety_ms)
        store = SettingsStore(QSettings(str(self.tmp / "gui.ini"), QSettings.Format.IniFormat))
        store.set_engine_settings(settings)
        if in_process:
            from gui.engine_adapter import create_engine
            from model.separator import Separator

            sep = Separator.from_preset(args.preset) if args.preset else None
            engine = create_engine(settings, sep)
        else:
            engine = EngineProcess(settings, preset=args.preset, max_restarts=max_restarts)
        self.window = MainWindow(engine, store, fps=args.fps, record_root=record_root)
        fx, key = getattr(args, "fx", None), getattr(args, "key", None)
        if fx is not None or key is not None:  # as `stemlive gui --fx --key` does
            mix = self.window.mixer.mix
            chains = load_chains(fx, engine.stems) if fx is not None else mix.fx
            key = key if key is not None else mix.key
            self.window.mixer.set_mix(replace(mix, fx=chains, key=key))
        self.window.show()
        self.window.start(args.file)
        self.window.transport.loop.setChecked(True)
        self.pump(60.0, lambda: self.window.last_snapshot.playing, "the song to play")

    def record(self) -> None:
        """Press the window's record button; wait for the take to begin."""
        w = self.window
        w.transport.record.setChecked(True)
        self.pump(30.0, lambda: w.engine.take is not None, "the recording to start")

    def stop_recording(self) -> tuple[Path, float]:
        """Release the record button: the take's folder and the seconds it was recording."""
        w = self.window
        take, started = w.engine.take, w.engine.take_started
        w.transport.record.setChecked(False)
        seconds = time.monotonic() - started
        self.pump(30.0, lambda: w.engine.take is None, "the recording to stop")
        return take, seconds

    def pump(self, seconds: float, until=None, what: str = "") -> float:
        """Run Qt for ``seconds`` or until ``until()``; returns the time it took."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            self.app.processEvents()
            if until is not None and until():
                return time.monotonic() - t0
            time.sleep(0.002)
        if until is not None:
            last = self.window.last_error if self.window else ""
            raise StemliveError(
                f"timed out after {seconds:g} s waiting for {what} (the window said: {last})"
            )
        return seconds

    def close(self, screenshot: str | None = None) -> None:
        window = getattr(self, "window", None)
        if window is not None:
            if screenshot:
                window.grab().save(screenshot)
            window.close()
            self.window = None
        self.server.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _run_kill(args: argparse.Namespace) -> int:
    result = fault_kill(args)
    _print(result, args.json, ("lost_s", "restart_s", "missing_s"))
    return 0


def fault_kill(args: argparse.Namespace) -> dict:
    """Kill (``--hang``: stop) the engine ``args.kills`` times mid-recording; what the window
    and the takes show."""
    import soundfile as sf

    from gui.engine_link import HANG_S

    if args.kills < 1 or args.every < 1.0:
        raise StemliveError("--kills must be 1 or more and --every 1 s or more")
    root = Path(args.record_dir or tempfile.mkdtemp(prefix="stemlive-rec-"))
    s = _Session(args, root, max_restarts=args.kills)  # the window's limit is 3 a minute
    w = s.window
    lost, back, takes = [], [], []
    try:
        w.transport.record.setChecked(True)
        s.pump(30.0, lambda: w.engine.take is not None, "the recording to start")
        take, started = w.engine.take, w.engine.take_started
        for _ in range(args.kills):
            s.pump(args.every)
            s.pump(120.0, lambda: w.engine.spare_ready, "a warm spare process")
            restarts, t_kill = w.engine_restarts, time.monotonic()
            os.kill(w.engine.pid, signal.SIGSTOP if args.hang else signal.SIGKILL)
            lost.append(
                s.pump(5.0 + HANG_S, lambda: "stopped" in w.engine_notice.text(), "the notice")
            )
            s.pump(10.0 + HANG_S, lambda r=restarts: w.engine_restarts > r, "the restart")
            back.append(time.monotonic() - t_kill)
            takes.append((take, t_kill - started))
            take, started = w.engine.take, w.engine.take_started
            state = w.engine.engine_state()
            if state["file"] is None or not state["playing"] or state["recording"] is None:
                raise StemliveError(f"the restarted engine is not where it was: {state}")
        s.pump(2.0)
    finally:
        s.close(args.screenshot)
    missing = []
    for folder, recorded in takes:
        info = sf.info(str(folder / "mix.wav"))
        missing.append(recorded - info.frames / info.samplerate)
    if not args.record_dir:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "kills": args.kills,
        "lost_s": lost,  # kill to the window's notice
        "restart_s": back,  # kill to the window's "restarted"
        "restart_median_s": statistics.median(back),
        "missing_s": missing,  # per take: seconds recorded minus seconds that read back
        "missing_max_s": max(missing),
    }


def _run_flood(args: argparse.Namespace) -> int:
    result = fault_flood(args)
    _print(result, args.json, ())
    return 0


def fault_flood(args: argparse.Namespace) -> dict:
    """Play for ``args.seconds`` with every fader moving every frame; misses and xruns."""
    from gui.stem_strip import db_to_slider

    s = _Session(args, Path(tempfile.gettempdir()), args.in_process)
    w = s.window
    strips = [*w.mixer.strips.values(), w.mixer.master]
    moves = 0
    try:
        s.pump(2.0)
        first = w.last_snapshot
        frames0 = w.frames
        t0 = time.monotonic()
        period = 1.0 / args.fps
        next_t = t0
        while time.monotonic() - t0 < args.seconds:
            if not args.idle and time.monotonic() >= next_t:
                phase = 2 * math.pi * (time.monotonic() - t0) / 2.0
                for i, strip in enumerate(strips):
                    strip.fader.setValue(db_to_slider(-6.0 + 5.0 * math.sin(phase + i)))
                    moves += 1
                next_t += period
            s.app.processEvents()
            time.sleep(0.001)
        last = w.last_snapshot
        frames = w.frames - frames0
        engine = w.engine
    finally:
        s.close(args.screenshot)
    return {
        "seconds": args.seconds,
        "engine_process": not args.in_process,
        "fader_moves": moves,
        "params_sent": getattr(engine, "params_sent", None),
        "frames": frames,
        "misses": last.misses - first.misses,
        "xruns": last.xruns - first.xruns,
        "worker_p99_ms": last.worker_p99_ms,
        "latency_ms": last.latency_ms,
    }


def _print(result: dict, as_json: bool, lists: tuple[str, ...]) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        if key in lists:
            value = " ".join(f"{v:.2f}" for v in value)
        elif isinstance(value, float):
            value = f"{value:.3f}"
        print(f"{key:>18}: {value}")


def _run_jackrestart(args: argparse.Namespace) -> int:
    result = fault_jackrestart(args)
    _print(result, args.json, ("gone_s", "resume_s", "outage_s"))
    return 0 if result["resume_max_s"] <= RESUME_BAR_S else 1


RESUME_BAR_S = 5.0  # issue 18's bar: playing again within 5 s of the server's return


def fault_jackrestart(args: argparse.Namespace) -> dict:
    """Kill jackd ``args.restarts`` times mid-recording and start it again after ``args.down``
    seconds; how long the window took to say so, and the server's return to music again."""
    if args.restarts < 1 or args.down < 0 or args.every < 1.0:
        raise StemliveError("--restarts must be 1 or more, --down 0 s or more, --every 1 s or more")
    root = Path(args.record_dir or tempfile.mkdtemp(prefix="stemlive-rec-"))
    s = _Session(args, root)
    w = s.window
    gone, resume, outage = [], [], []
    try:
        s.record()
        take = w.engine.take
        for _ in range(args.restarts):
            s.pump(args.every)
            t_kill = time.monotonic()
            s.server.kill(crash=True)
            gone.append(s.pump(10.0, lambda: "reconnecting" in w.status_state.text(), "notice"))
            s.pump(args.down)
            s.server.restart()  # returns once the server answers
            pos = w.last_snapshot.position_s

            def flowing(pos=pos) -> bool:
                snap = w.last_snapshot
                return snap.running and not snap.reconnecting and snap.position_s > pos + 0.01

            resume.append(s.pump(30.0, flowing, "the music to play on"))
            outage.append(time.monotonic() - t_kill)
        s.pump(1.0)
        if w.engine.take != take:
            raise StemliveError(f"the take changed from {take} to {w.engine.take}")
        folder, recorded = s.stop_recording()
    finally:
        s.close(args.screenshot)
    readback = _read_take(folder, root, args.record_dir)
    return {
        "restarts": args.restarts,
        "down_s": args.down,
        "gone_s": gone,  # kill to the window's "reconnecting"
        "resume_s": resume,  # the server answering again to the music playing on
        "resume_median_s": statistics.median(resume),
        "resume_max_s": max(resume),
        "outage_s": outage,  # kill to the music playing on: nothing is recorded meanwhile
        "take_s": readback,  # what the one take reads back
        "recorded_wall_s": recorded,  # the take's wall time, the outages included
        "missing_s": recorded - sum(outage) - readback,  # of the time there was music
    }


def _read_take(folder: Path, root: Path, keep: str | None) -> float:
    """Seconds the take's mix reads back; its temporary folder removed unless kept."""
    import soundfile as sf

    info = sf.info(str(folder / "mix.wav"))
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return info.frames / info.samplerate


def _run_soak(args: argparse.Namespace) -> int:
    result = soak(args)
    _print(result, args.json, ("miss_at_s", "xrun_at_s"))
    return 0 if result["misses"] == 0 else 1


def soak(args: argparse.Namespace) -> dict:
    """The window playing and recording for ``args.minutes``: what went wrong, what it cost."""
    if args.minutes <= 0:
        raise StemliveError(f"--minutes must be more than 0, not {args.minutes}")
    if args.key is not None:
        from realtime.keyshift import check_key

        check_key(args.key)
    root = Path(args.record_dir or tempfile.mkdtemp(prefix="stemlive-rec-"))
    s = _Session(args, root)
    w = s.window
    p50s, p99s = [], []
    try:
        s.record()
        s.pump(2.0)  # the counters from here: after the start and a key shift's restart
        first, frames0 = w.last_snapshot, w.frames
        cpu0, faults0, t0 = _cpu_seconds(w.engine), _major_faults(w.engine), time.monotonic()
        started = time.time()
        n_miss, n_xrun = len(w.miss_at_s), len(w.xrun_at_s)  # the window logs when they rose
        while time.monotonic() - t0 < 60.0 * args.minutes:
            s.pump(min(1.0, 60.0 * args.minutes - (time.monotonic() - t0)))
            snap = w.last_snapshot
            p50s.append(snap.worker_p50_ms)  # the worker keeps its last 1024 blocks
            p99s.append(snap.worker_p99_ms)
        wall = time.monotonic() - t0
        cpu = _cpu_seconds(w.engine) - cpu0
        faults = _major_faults(w.engine) - faults0
        locked = _locked_kib(w.engine)
        last, frames = w.last_snapshot, w.frames - frames0
        offset = t0 - w.counters_since  # the window's times count from its first running frame
        miss_at = [round(t - offset, 1) for t in w.miss_at_s[n_miss:]]
        xrun_at = [round(t - offset, 1) for t in w.xrun_at_s[n_xrun:]]
        folder, recorded = s.stop_recording()
        restarts = w.engine_restarts
    finally:
        s.close(args.screenshot)
    take = _read_take(folder, root, args.record_dir)
    return {
        "minutes": args.minutes,
        "started_unix_s": round(started, 1),  # miss_at_s and xrun_at_s count from here
        "fps": frames / wall,
        "fx": args.fx,
        "key": last.key,
        "period": args.period,
        "latency_ms": last.latency_ms,
        "misses": last.misses - first.misses,
        "xruns": last.xruns - first.xruns,
        "miss_at_s": miss_at,
        "xrun_at_s": xrun_at,
        "worker_p50_ms": statistics.median(p50s),
        "worker_p99_ms": statistics.median(p99s),  # of the p99s of each second's last 1024
        "worker_p99_max_ms": max(p99s),
        "worker_load": last.worker_load,
        "gc_max_ms": last.gc_max_ms,  # since the stream started (restarts reset it)
        "gc_full": last.gc_full,
        "engine_cpu": cpu / wall if cpu >= 0 else None,  # the engine process, 1.0 = one core
        "engine_major_faults": faults,  # pages read back from disk while streaming
        "engine_locked_kib": locked,  # its memory pinned in RAM (realtime/memlock.py)
        "engine_restarts": restarts,
        "take_s": take,
        "recorded_wall_s": recorded,
    }


def _proc_stat(engine) -> list[str] | None:
    """The engine process's /proc stat fields from the state on; None in the window's own."""
    pid = getattr(engine, "pid", None)
    if pid is None:
        return None
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_seconds(engine) -> float:
    """CPU time (user + system) of the engine's process so far; -inf in the window's own."""
    fields_ = _proc_stat(engine)
    if fields_ is None:
        return -math.inf
    return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")


def _locked_kib(engine) -> int:
    """The engine's process's locked memory, KiB; -1 in the window's own."""
    pid = getattr(engine, "pid", None)
    return -1 if pid is None else locked_kib(pid)


def _major_faults(engine) -> int:
    """Page faults of the engine's process that had to read from disk; -1 in the window's."""
    fields_ = _proc_stat(engine)
    return -1 if fields_ is None else int(fields_[9])
