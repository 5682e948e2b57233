"""Runs the engine's blocking operations off the GUI thread and reports back by signals.

One worker thread, one operation at a time in submission order, so "stop then
start with new devices" can never interleave with a file being opened.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from model.errors import StemliveError


class _Signals(QObject):
    done = Signal(str, object)
    failed = Signal(str, str)


class _Job(QRunnable):
    def __init__(self, name: str, fn: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self.name, self.fn, self.signals = name, fn, signals
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            result = self.fn()
        except StemliveError as exc:  # meant for the user as it is
            self._emit(self.signals.failed, str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure must reach the user, not kill Qt
            traceback.print_exc()
            self._emit(self.signals.failed, f"{type(exc).__name__}: {exc}")
        else:
            self._emit(self.signals.done, result)

    def _emit(self, signal, value) -> None:
        try:
            signal.emit(self.name, value)
        except RuntimeError:  # the window closed while this ran: nobody is left to tell
            pass


class EngineRunner(QObject):
    """``submit(name, fn)`` runs ``fn`` on the worker; ``done(name, result)`` or
    ``failed(name, message)`` arrives on the GUI thread (queued connection)."""

    done = Signal(str, object)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)  # serial: operations on devices must not overlap
        self._signals = _Signals()
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self.pending = 0

    def submit(self, name: str, fn: Callable[[], Any]) -> None:
        self.pending += 1
        self.pool.start(_Job(name, fn, self._signals))

    def busy(self) -> bool:
        return self.pending > 0

    def wait(self, timeout_ms: int = 10000) -> bool:
        """Block until every submitted operation has finished (for shutdown and tests)."""
        return self.pool.waitForDone(timeout_ms)

    def _on_done(self, name: str, result: object) -> None:
        self.pending -= 1
        self.done.emit(name, result)

    def _on_failed(self, name: str, message: str) -> None:
        self.pending -= 1
        self.failed.emit(name, message)
