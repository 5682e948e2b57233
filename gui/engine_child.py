"""The engine process: the real engine behind ``EngineAdapter``, driven over a pipe.

Runs the audio callback, the worker, the model, the mixer, the effect chains
and the recorder, apart from the window's interpreter (and its lock). No Qt
here. Messages from the window (``gui/engine_process.py``):

- ``("params", [(method, args), ...])``: cheap parameter calls, applied at once
  on the receiving (main) thread;
- ``("call", id, method, args)``: answered by ``("reply", id, ok, value)``.
  Blocking ones run one at a time, in order, on a runner thread (as the
  window's ``EngineRunner`` does in one process); ``devices`` and ``state``
  are answered on the main thread; effect chains load their VST3s on the main
  thread (pedalboard's rule) before the runner applies them;
- ``("attach", name)``: publish snapshots into that shared-memory block.

To the window: ``("hello", info)`` once the model is loaded, replies, and
``("events", [(kind, message), ...])``. The engine stops and the process
exits when the window's end of the pipe closes (the window quit or died).
"""

from __future__ import annotations

import os
import queue
import threading
import time
import traceback
from multiprocessing.connection import Connection

PUBLISH_S = 1.0 / 60.0  # snapshots a second, twice the window's usual 30 fps
PARAMS = {
    "play",
    "pause",
    "seek",
    "set_loop",
    "set_gain_db",
    "set_mute",
    "set_solo",
    "set_master_db",
    "set_bypass",
    "set_fx_param",
    "set_fx_bypass",
    "set_monitor_gain_db",
}
BLOCKING = {
    "start",
    "stop",
    "open_file",
    "use_input_device",
    "start_recording",
    "stop_recording",
    "set_chains",
    "set_key",
    "warm_up",
}
INLINE = {"devices", "state"}


class EngineChild:
    """The engine process's main loop around one ``EngineAdapter``."""

    def __init__(self, conn: Connection, adapter) -> None:
        self.conn, self.adapter = conn, adapter
        self._send_lock = threading.Lock()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._block = None
        self._stop = False
        threading.Thread(target=self._run_jobs, name="stemlive-child-runner", daemon=True).start()

    def send(self, msg: tuple) -> None:
        with self._send_lock:
            self.conn.send(msg)

    def serve(self) -> None:
        """Answer the window until it goes away."""
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                break
            kind = msg[0]
            if kind == "params":
                for method, args in msg[1]:
                    self._apply(method, args)
            elif kind == "call":
                _, req, method, args = msg
                if method in INLINE:
                    self._answer(req, lambda m=method, a=args: self._inline(m, a))
                elif method in BLOCKING:
                    if method == "set_chains":
                        self._answer_preload(req, args)
                    else:
                        self._jobs.put((req, method, args))
                else:
                    self.send(("reply", req, False, ("ValueError", f"no engine call {method}")))
            elif kind == "attach":  # the window's engine now (a warm spare stays ordinary)
                from gui.engine_shm import SnapshotBlock
                from realtime.engine import raise_threads

                raise_threads()  # the threads so far; the publisher, started here, inherits it
                self._block = SnapshotBlock.attach(msg[1], msg[2])
                threading.Thread(target=self._publish, name="stemlive-publish", daemon=True).start()
        self._stop = True
        self.adapter.stop()

    def _apply(self, method: str, args: tuple) -> None:
        if method not in PARAMS:
            self._event("error", f"engine: no parameter call {method}")
            return
        try:
            getattr(self.adapter, method)(*args)
        except (ValueError, KeyError) as exc:
            self._event("error", f"engine: {method}{args}: {exc}")

    def _answer_preload(self, req: int, args: tuple) -> None:
        from realtime.fx import preload

        try:
            preload(args[0])
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            self.send(("reply", req, False, _describe(exc)))
            return
        self._jobs.put((req, "set_chains", args))

    def _run_jobs(self) -> None:
        while True:
            req, method, args = self._jobs.get()
            self._answer(req, lambda m=method, a=args: self._blocking(m, a))

    def _blocking(self, method: str, args: tuple):
        a = self.adapter
        if method == "start":
            a.start(*args)
            return {"model_name": a.model_name, "model_trained": a.model_trained}
        if method == "warm_up":  # a spare: export and run the model once, open no device
            a.start(*args)
            a.stop()
            from realtime import devices

            devices._sd()  # noqa: SLF001 - imports sounddevice: a takeover's start is 0.25 s faster
            return None
        return getattr(a, method)(*args)

    def _inline(self, method: str, args: tuple):
        if method == "devices":
            return self.adapter.devices()
        return engine_state(self.adapter)

    def _answer(self, req: int, fn) -> None:
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller
            if not _is_user_error(exc):
                traceback.print_exc()
            self.send(("reply", req, False, _describe(exc)))
        else:
            self.send(("reply", req, True, value))

    def _event(self, kind: str, message: str) -> None:
        self.send(("events", [(kind, message)]))

    def _publish(self) -> None:
        block = self._block
        next_t = time.perf_counter()
        while not self._stop:
            block.beat()  # the window's watchdog: this process still runs
            try:
                block.write(self.adapter.snapshot())
                events = self.adapter.poll_events()
                if events:
                    self.send(("events", [(e.kind, e.message) for e in events]))
            except (OSError, EOFError):
                return  # the window is gone; serve() ends the process
            except Exception as exc:  # noqa: BLE001 - a bad frame must not end the meters
                self._event("error", f"engine snapshot: {type(exc).__name__}: {exc}")
            next_t += PUBLISH_S
            delay = next_t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                next_t = time.perf_counter()


def engine_state(adapter) -> dict:
    """What the engine holds that a restart must bring back (tests compare it)."""
    e = adapter.engine
    stems = e.stems
    player, recorder = e._player, e._recorder  # noqa: SLF001 - read-only, for the window
    st = e.status()
    return {
        "gain_db": {s: e.mixer.gain_db(s) for s in stems},
        "mute": {s: e.mixer.mute(s) for s in stems},
        "solo": {s: e.mixer.solo(s) for s in stems},
        "master_db": e.mixer.master_db(),
        "bypass": e.mixer.bypass(),
        "monitor_db": {s: e.monitor.gain_db(s) for s in stems},
        "fx": dict(e.fx_spec),
        "key": e.key,
        "file": str(player.path) if player else None,
        "position_s": st.position_s,
        "playing": st.playing,
        "looping": st.looping,
        "recording": str(recorder.folder) if recorder else None,
        "running": st.running,
    }


def _is_user_error(exc: Exception) -> bool:
    from model.errors import StemliveError

    return isinstance(exc, (StemliveError, ValueError))


def _describe(exc: Exception) -> tuple[str, str]:
    from model.errors import StemliveError

    return ("StemliveError" if isinstance(exc, StemliveError) else type(exc).__name__, str(exc))


def child_main(conn: Connection, env: dict, settings, preset: str | None) -> None:
    """The engine process's entry point: the window's environment, the model, then serve."""
    os.environ.clear()
    os.environ.update(env)  # a forkserver's children inherit its environment, not the window's
    from gui.engine_adapter import create_engine
    from model.separator import Separator

    try:
        adapter = create_engine(settings, Separator.from_preset(preset) if preset else None)
    except Exception as exc:  # noqa: BLE001 - the window shows it
        conn.send(("failed", _describe(exc)))
        return
    child = EngineChild(conn, adapter)
    child.send(
        (
            "hello",
            {
                "pid": os.getpid(),
                "stems": adapter.stems,
                "model_name": adapter.model_name,
                "model_trained": adapter.model_trained,
            },
        )
    )
    child.serve()
    os._exit(0)  # daemon threads and PortAudio: nothing left to wait for
