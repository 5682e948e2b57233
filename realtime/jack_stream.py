"""A JACK client of our own, named ``stemlive``, for when the engine has stem outputs on JACK.

PortAudio cannot do this: its JACK streams are limited to as many channels as the
server has physical ports (two on most cards), and it names its ports
``PortAudio:out_0``... Here every output pair has its own named ports
(``stemlive:main_L``, ``stemlive:vocals_L``, ``stemlive:monitor_R``...), the main
pair and the input are connected to the physical ports as PortAudio would, and
the other pairs are left for the user to connect anywhere. One JACK process
callback serves every port, so all pairs are sample-aligned.

The object looks like the part of a ``sounddevice.Stream`` that the engine uses:
``start``, ``abort``, ``close``, ``latency`` and a callback
``callback(indata, outdata, frames, time, status)`` with (frames, channels) arrays.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import threading
import time

import numpy as np

from model.errors import StemliveError

CLIENT_NAME = "stemlive"
_CAPTURE, _PLAYBACK = 0, 1  # jack_latency_callback_mode_t


class _LatencyRange(ctypes.Structure):
    _fields_ = [("min", ctypes.c_uint32), ("max", ctypes.c_uint32)]


def _jack_module():
    try:
        import jack
    except (ImportError, OSError) as exc:  # the package, or libjack, is missing
        raise StemliveError(
            f"stem outputs on JACK need the JACK-Client package and libjack ({exc})"
        ) from None
    return jack


class JackStream:
    """Our JACK client: ``in_names`` input ports, ``out_names`` output ports, one callback."""

    def __init__(
        self,
        in_names: list[str],
        out_names: list[str],
        rate: int,
        block_size: int,
        callback,
        connect_main: bool = True,
    ) -> None:
        jack = _jack_module()
        try:
            self.client = jack.Client(CLIENT_NAME, no_start_server=True)
        except jack.JackError as exc:
            raise StemliveError(
                f"cannot open a JACK client (is the server running?): {exc}"
            ) from None
        c = self.client
        if c.samplerate != rate:
            c.close()
            raise StemliveError(f"the JACK server runs at {c.samplerate} Hz, not {rate} Hz")
        self.name = c.name  # "stemlive", or "stemlive-01" when another stemlive runs
        self.rate = rate
        self._connect_main = connect_main
        self._inports = [c.inports.register(n) for n in in_names]
        self._outports = [c.outports.register(n) for n in out_names]
        cap = max(block_size, c.blocksize, 8192)
        self._in = np.zeros((cap, max(1, len(in_names))), np.float32)
        self._out = np.zeros((cap, max(1, len(out_names))), np.float32)
        self._user_callback = callback
        self._exit = jack.CallbackExit()
        self._next_frame = -1  # where the next cycle starts if none is lost (xrun check)
        self._active = False
        self._quit = False  # the next cycle ends the process thread (see abort)
        self._ended = threading.Event()
        self._period_s = c.blocksize / rate
        self.latency = (0.0, 0.0)
        # Only the process callback runs Python. JACK2 cancels its client threads
        # (pthread_cancel) at deactivate and close; one cancelled while it waits for the
        # interpreter lock dies holding the lock's mutex and hangs the process. So there
        # is no xrun or shutdown callback (they run on JACK's notification thread, which
        # close cancels): a lost cycle is seen in the frame times below, a lost server
        # by the engine's worker when the cycles stop.
        c.set_process_callback(self._process)

    @property
    def out_port_names(self) -> list[str]:
        """Full names of the output ports ("stemlive:main_L", ...)."""
        return [p.name for p in self._outports]

    # -- JACK's real-time thread: copy in, call the engine, copy out ------------------
    def _process(self, frames: int) -> None:
        if self._quit:
            self._ended.set()
            raise self._exit  # JACK deactivates the client and ends this thread itself
        indata = self._in[:frames, : len(self._inports)] if self._inports else None
        for i, port in enumerate(self._inports):
            indata[:, i] = port.get_array()
        outdata = self._out[:frames, : len(self._outports)] if self._outports else None
        start = self.client.last_frame_time
        status = self._next_frame >= 0 and start != self._next_frame  # cycles were lost
        self._next_frame = (start + frames) & 0xFFFFFFFF  # jack_nframes_t wraps
        self._user_callback(indata, outdata, frames, None, status)
        for i, port in enumerate(self._outports):
            port.get_array()[:] = outdata[:, i]

    # -- control (the engine's thread) ------------------------------------------------
    def start(self) -> None:
        c = self.client
        c.activate()
        self._active = True
        if self._connect_main:
            jack = _jack_module()
            playback = c.get_ports(is_audio=True, is_physical=True, is_input=True)
            capture = c.get_ports(is_audio=True, is_physical=True, is_output=True)
            for src, dst in zip(self._outports[:2], playback[:2], strict=False):
                with contextlib.suppress(jack.JackError):
                    c.connect(src, dst)
            for src, dst in zip(capture[:2], self._inports, strict=False):
                with contextlib.suppress(jack.JackError):
                    c.connect(src, dst)
        self.latency = (
            _port_latency(self._inports[0], _CAPTURE) / self.rate if self._inports else 0.0,
            _port_latency(self._outports[0], _PLAYBACK) / self.rate if self._outports else 0.0,
        )

    def abort(self) -> None:
        """Stop the process callback, then deactivate.

        ``jack_deactivate`` cancels the process thread (pthread_cancel in JACK2); a
        thread cancelled inside Python (waiting for the interpreter lock, at the
        start of a cycle) dies holding the lock's mutex, and the whole process hangs
        (seen: 1 ``play`` in ~10 on a loaded machine, stuck on Ctrl-C). So the thread
        is asked to end itself first: its next cycle raises ``CallbackExit`` and JACK
        deactivates the client and ends the thread outside Python. The wait is long (1 s)
        because a thread that is slow to get the lock is exactly the one not to cancel;
        without cycles (a stopped server) the client is deactivated after it.
        """
        if self._active:
            self._active = False
            self._quit = True
            if self._ended.wait(max(1.0, 8 * self._period_s)):
                time.sleep(2 * self._period_s)  # JACK's own deactivation, just after
            self.client.deactivate()  # at once when JACK did it already

    stop = abort

    def close(self) -> None:
        self.abort()
        self.client.close()


def server_running() -> bool:
    """Whether a JACK server answers: a client opened and closed at once, never starting one.

    Raises StemliveError when JACK-Client or libjack is missing."""
    jack = _jack_module()
    try:
        client = jack.Client("stemlive-probe", no_start_server=True)
    except jack.JackError:
        return False
    client.close()
    return True


_libjack = None
_libjack_lock = threading.Lock()


def _port_latency(port, mode: int) -> int:
    """The port's latency range maximum in frames (JACK-Client does not wrap this call)."""
    global _libjack
    with _libjack_lock:
        if _libjack is None:
            _libjack = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
            _libjack.jack_port_get_latency_range.argtypes = [
                ctypes.c_void_p,
                ctypes.c_int,
                ctypes.POINTER(_LatencyRange),
            ]
    import jack

    r = _LatencyRange()
    ptr = int(jack._ffi.cast("uintptr_t", port._ptr))
    _libjack.jack_port_get_latency_range(ptr, mode, ctypes.byref(r))
    return int(r.max)
