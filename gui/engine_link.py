"""One engine process and the window's end of its pipe (``EngineProcess`` holds one or two).

The process starts from a forkserver that has torch imported already (a fork
of the Qt process is not safe; spawn would import torch again, ~1.6 s). Its
death closes the pipe: a receiver thread notices at once, fails the calls
waiting for an answer and reports it.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import threading
import time
from multiprocessing.connection import wait

from gui.engine_api import EngineSettings, model_for
from gui.engine_shm import SnapshotBlock
from model.errors import StemliveError

HELLO_TIMEOUT_S = 120.0  # the model loads (first forkserver start: torch imports too)
CALL_TIMEOUT_S = 120.0  # a start exports and warms the model; a machine may be loaded
# An attached engine whose publishing loop has not turned for this long hangs (a deadlock,
# a plug-in that never returns, SIGSTOP): it is killed, and its death starts the recovery.
HANG_S = 3.0
_PRELOAD = ["gui.engine_child", "gui.engine_adapter", "gui.engine_shm", "model.onnx_step"]


def context() -> mp.context.BaseContext:
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


class EngineGone(StemliveError):
    """The engine process ended while a call waited for it."""


class EngineLink:
    """One engine process and the window's end of its pipe."""

    _ids = itertools.count(1)

    def __init__(self, ctx, settings: EngineSettings, preset: str | None, on_death) -> None:
        from gui.engine_child import child_main

        mine, theirs = ctx.Pipe()
        self.proc = ctx.Process(
            target=child_main,
            args=(theirs, dict(os.environ), settings, preset),
            name="stemlive-engine",
            daemon=True,
        )
        self.proc.start()
        theirs.close()  # only the child holds it now: its death closes the pipe
        self.conn = mine
        self.model_key = model_for(settings)
        self.block: SnapshotBlock | None = None
        self.dead = False
        self.hung = False  # killed by the watchdog (see HANG_S)
        self._closing = False
        self._watcher: threading.Thread | None = None
        self.exitcode: int | None = None
        self.died_at = 0.0
        self._send_lock = threading.Lock()
        self._replies: dict[int, list] = {}
        self._reply_cv = threading.Condition()
        self._on_death = on_death
        self.on_events = None
        msg = self._recv_hello()
        self.info = msg
        self.sources = 1 + len(msg["stems"])
        threading.Thread(target=self._receive, name="stemlive-engine-rx", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _recv_hello(self) -> dict:
        ready = wait([self.conn, self.proc.sentinel], HELLO_TIMEOUT_S)
        if self.conn in ready:
            with contextlib.suppress(EOFError, OSError):
                msg = self.conn.recv()
                if msg[0] == "hello":
                    return msg[1]
                self.kill()
                raise error_from(msg[1])
        self.kill()
        raise StemliveError(
            f"the engine process did not start (exit code {self.proc.exitcode})"
            if not ready or self.proc.exitcode is not None
            else "the engine process did not answer"
        )

    def attach(self) -> None:
        """Give the child a shared-memory block to publish snapshots into."""
        self.block = SnapshotBlock.create(self.sources)
        self.send(("attach", self.block.name, self.sources))
        self._watcher = threading.Thread(
            target=self._watch, name="stemlive-engine-watch", daemon=True
        )
        self._watcher.start()

    def _watch(self) -> None:
        """Kill the process if its publishing loop stops turning for HANG_S."""
        block, last, since = self.block, -1, time.monotonic()
        while not (self.dead or self._closing):
            beat, now = block.heartbeat, time.monotonic()
            if beat != last:
                last, since = beat, now
            elif now - since > HANG_S:
                self.hung = True
                self.kill()
                return
            time.sleep(0.1)

    def send(self, msg: tuple) -> None:
        if self.dead:
            raise EngineGone("the audio engine process has stopped")
        try:
            with self._send_lock:
                self.conn.send(msg)
        except (OSError, ValueError) as exc:
            raise EngineGone(f"the audio engine process has stopped ({exc})") from None

    def call(self, method: str, *args, timeout: float = CALL_TIMEOUT_S):
        req = next(self._ids)
        with self._reply_cv:
            self._replies[req] = []
        self.send(("call", req, method, args))
        with self._reply_cv:
            if not self._reply_cv.wait_for(
                lambda: self._replies[req] or self.dead, timeout=timeout
            ):
                self._replies.pop(req, None)
                raise StemliveError(f"the audio engine did not answer {method} in {timeout:g} s")
            got = self._replies.pop(req)
        if not got:
            raise EngineGone(f"the audio engine process stopped during {method}")
        ok, value = got[0]
        if ok:
            return value
        raise error_from(value)

    def _receive(self) -> None:
        while True:
            try:
                ready = wait([self.conn, self.proc.sentinel])
                if self.conn not in ready:
                    break  # died without a word left in the pipe
                msg = self.conn.recv()
            except (EOFError, OSError):
                break
            if msg[0] == "reply":
                with self._reply_cv:
                    if msg[1] in self._replies:
                        self._replies[msg[1]].append((msg[2], msg[3]))
                        self._reply_cv.notify_all()
            elif msg[0] == "events" and self.on_events is not None:
                self.on_events(msg[1])
        self.died_at = time.monotonic()
        self.proc.join(timeout=2)
        self.exitcode = self.proc.exitcode
        with self._reply_cv:
            self.dead = True
            self._reply_cv.notify_all()
        self._on_death(self)

    def close(self, timeout: float = 5.0) -> None:
        """End the process: closing the pipe makes it stop the engine and exit."""
        self._on_death = lambda _child: None
        self._closing = True
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(1.0)  # it reads the block: done before the block goes
        with contextlib.suppress(OSError):
            self.conn.close()
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.kill()
        if self.block is not None:
            self.block.close()
            self.block = None

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.proc.kill()
            self.proc.join(5)


def error_from(value: tuple[str, str]) -> Exception:
    kind, message = value
    if kind == "ValueError":
        return ValueError(message)
    if kind == "StemliveError":
        return StemliveError(message)
    return StemliveError(f"{kind}: {message}")
