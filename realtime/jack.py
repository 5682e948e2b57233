"""A JACK server on the dummy backend: a real clocked audio graph with no sound card.

Used by the tests, the live benchmark and anyone trying stemlive on a machine
without audio hardware. PortAudio must be (re)initialised after the server is
up to see it: ``realtime.devices.rescan()`` does that, and ``Engine.start``
calls it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from model.errors import StemliveError

PORT_PREFIX = "PortAudio"
TOOL_TIMEOUT_S = 5.0  # jack_lsp / jack_connect not done in this: asked again (see _tool)
TOOL_TRIES = 3


class JackServer:
    """``jackd -d dummy`` under a server name of ours, started and stopped by us.

    Use fixed names: JACK frees a dead server's registry slot only when a server of
    the same name starts again.
    """

    def __init__(self, name: str, rate: int = 48000, period: int = 256):
        if shutil.which("jackd") is None:
            raise StemliveError("jackd is not installed (Debian package jackd2)")
        if not 16 <= period <= 4096:
            raise StemliveError(f"JACK period must be 16..4096 frames, not {period}")
        self.name, self.rate, self.period = name, rate, period
        self.env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_AUDIO_RESERVATION": "1"}
        self._start()

    def _start(self, retry: bool = True) -> None:
        cmd = ["jackd", "-n", self.name, "-d", "dummy", "-r", str(self.rate)]
        cmd += ["-p", str(self.period), "-C", "2", "-P", "2"]
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - read on failure, closed by GC
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 10
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                self.log.seek(0)
                out = self.log.read()
                if retry and "Too many servers" in out and _clear_stale_registry():
                    return self._start(retry=False)
                last = out.strip().splitlines()[-1:] or [""]
                raise StemliveError(f"jackd did not start (exit {self.proc.returncode}): {last[0]}")
            time.sleep(0.05)

    def restart(self) -> None:
        """Start the server again (after ``kill``), under the same name and settings."""
        self.kill()
        self._start()

    def _tool(self, *cmd: str, tries: int = TOOL_TRIES) -> subprocess.CompletedProcess:
        """A JACK command-line tool against this server, asked again when it does not answer
        in time (a jack_lsp was seen to hang for minutes once, while the server took on a
        new client): a busy server costs a retry, not a hung caller."""
        for _ in range(tries):
            try:
                return subprocess.run(
                    cmd, env=self.env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S
                )
            except subprocess.TimeoutExpired:
                continue
        raise StemliveError(f"{cmd[0]}: the JACK server {self.name!r} did not answer")

    def _ready(self) -> bool:
        try:
            return self._tool("jack_lsp", tries=1).returncode == 0
        except StemliveError:
            return False

    def ports(self) -> list[str]:
        return self._tool("jack_lsp").stdout.split()

    def connect(self, src: str, dst: str) -> None:
        r = self._tool("jack_connect", src, dst)
        if r.returncode != 0:
            raise StemliveError(f"jack_connect {src} {dst}: {r.stderr.strip()}")

    def loopback(self, channels: int = 2) -> None:
        """Feed our stream's outputs back to its inputs."""
        ports = self.ports()
        outs = sorted(p for p in ports if p.startswith(PORT_PREFIX) and ":out_" in p)
        ins = sorted(p for p in ports if p.startswith(PORT_PREFIX) and ":in_" in p)
        if len(outs) < channels or len(ins) < channels:
            raise StemliveError(f"no PortAudio ports to loop back: {ports}")
        for o, i in zip(outs[:channels], ins[:channels], strict=True):
            self.connect(o, i)

    def kill(self, crash: bool = False) -> None:
        """Stop the server (``crash``: SIGKILL, as if it died)."""
        if self.proc.poll() is None:
            if crash:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _clear_stale_registry() -> bool:
    """JACK reclaims a dead server's registry slot only for the same name; with all 8 slots
    held by dead servers no server starts. When no jackd runs at all, the registry is stale."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() == "jackd":
                return False
    for p in Path("/dev/shm").glob("jack*"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return True


@contextmanager
def dummy_server(name: str = "stemlive", rate: int = 48000, period: int = 256):
    """Start a dummy JACK server, point PortAudio at it, kill it on exit."""
    old = os.environ.get("JACK_DEFAULT_SERVER")
    server = JackServer(name, rate, period)
    os.environ["JACK_DEFAULT_SERVER"] = name
    try:
        yield server
    finally:
        from realtime import devices

        quiet = not devices._abandoned  # PortAudio must let go of JACK before jackd dies
        if quiet:
            devices._sd()._terminate()
        server.kill()
        if quiet:
            devices._sd()._initialize()
        if old is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old
