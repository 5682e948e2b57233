"""A wake-up the audio callback gives the worker without blocking or yielding.

The worker used to poll the input ring every quarter period (1.33 ms at 48 kHz / 256):
a block waited up to that long before its separation began, time taken from the safety
buffer. Now the callback writes to an eventfd right after it fills the ring, and the
worker sleeps in ``select`` on it. Python's own ways of writing one (``os.write``,
``os.eventfd_write``, ``threading.Event.set``) let go of the interpreter lock or may wait
for a lock, and the audio thread must then win the interpreter lock back from whoever
took it; the write here goes through libc with the interpreter lock held (``ctypes.PyDLL``
calls do not release it), on a non-blocking eventfd, so it neither waits nor yields.
"""

from __future__ import annotations

import ctypes
import os
import select
import weakref

_LIBC = ctypes.PyDLL(None)
_eventfd_write = _LIBC.eventfd_write
_eventfd_write.argtypes = (ctypes.c_int, ctypes.c_uint64)
_eventfd_write.restype = ctypes.c_int


class Wake:
    """One waker (the audio thread), one sleeper (the worker). Wakes never get lost: the
    eventfd counts them until the sleeper reads; several give one wake. The descriptor is
    closed when the object is collected, never before: an audio callback still running
    after its stream was closed writes to this eventfd, never to a reused descriptor."""

    def __init__(self) -> None:
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        weakref.finalize(self, os.close, self.fd)

    def give(self) -> None:
        """From the audio thread: never blocks, never raises (a full counter stays full)."""
        _eventfd_write(self.fd, 1)

    def wait(self, timeout: float) -> bool:
        """Sleep until woken or ``timeout`` s have passed; True if woken."""
        ready, _, _ = select.select((self.fd,), (), (), timeout)
        if not ready:
            return False
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:  # read by someone else first: nothing to consume
            return False
        return True
