"""A real PulseAudio server for tests: private socket, null sinks, no session bus, no sound card.

Debian's ``pulseaudio`` runs as root with no session bus like this; ``paplay`` into a
null sink and ``parec`` from its monitor are sample-exact. Clients in this process
(ALSA's pulse plugin under PortAudio, ``pactl``) find it through ``PULSE_SERVER``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


class PulseServer:
    """``pulseaudio`` with the null sinks named, on a socket of its own; ``stop()`` ends it."""

    def __init__(self, sinks: tuple[str, ...] = ("desk", "speakers")) -> None:
        missing = [t for t in ("pulseaudio", "pactl", "paplay") if shutil.which(t) is None]
        if missing:
            raise AssertionError(
                f"{', '.join(missing)} not installed: the desktop-audio tests need the Debian "
                "packages pulseaudio, pulseaudio-utils and libasound2-plugins (make deps)"
            )
        self.dir = Path(tempfile.mkdtemp(prefix="stemlive-pulse-"))
        socket = self.dir / "native"
        self.env = {
            **os.environ,
            "XDG_RUNTIME_DIR": str(self.dir),
            "HOME": str(self.dir),
            "PULSE_SERVER": f"unix:{socket}",
        }
        cmd = ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no"]
        cmd += [f"--load=module-native-protocol-unix auth-anonymous=1 socket={socket}"]
        cmd += [
            f"--load=module-null-sink sink_name={s} sink_properties=device.description={s}-sink"
            for s in sinks
        ]
        self.log = open(self.dir / "log", "w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while self.pactl("info").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"pulseaudio did not start: {self.log_text()[-800:]}")
            time.sleep(0.1)
        self.pactl("set-default-sink", sinks[0])

    def pactl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True)

    def log_text(self) -> str:
        self.log.flush()
        return (self.dir / "log").read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def pulse_server(sinks: tuple[str, ...] = ("desk", "speakers")):
    """A PulseAudio server that this process's clients (PortAudio's ALSA pulse device) use."""
    server = PulseServer(sinks)
    old = {k: os.environ.get(k) for k in ("PULSE_SERVER", "XDG_RUNTIME_DIR")}
    os.environ["PULSE_SERVER"] = server.env["PULSE_SERVER"]
    try:
        yield server
    finally:
        from realtime import devices

        devices._sd()._terminate()  # PortAudio lets go of the server before it ends
        server.stop()
        devices._sd()._initialize()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def wait_for(pred, timeout: float, what: str, poll: float = 0.05) -> None:
    """Poll ``pred`` until it holds; an AssertionError naming ``what`` after ``timeout`` s."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def sigint_default() -> None:
    """``preexec_fn`` for a child that a test stops with Ctrl-C (SIGINT): the signal back
    to its default, as for a terminal's foreground job. A shell's background job (``make
    test &``, ``nohup ... &``) starts with SIGINT ignored and its children inherit that,
    so without this the child would never see the test's Ctrl-C."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
