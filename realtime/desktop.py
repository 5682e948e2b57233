"""Desktop audio: what the computer is playing, as the monitor of a PulseAudio/PipeWire sink.

Both PulseAudio and PipeWire (through ``pipewire-pulse``) answer ``pactl``, so one
path serves both. PortAudio as Debian builds it has no PulseAudio host API; it
reaches the server through ALSA's ``pulse`` device (``libasound2-plugins``), whose
source and sink are chosen with ``PULSE_SOURCE`` and ``PULSE_SINK`` when a stream
opens. Device specs understood here:

- input ``desktop`` (the default sink's monitor) or ``desktop:SINK`` (a sink's name,
  or part of its description);
- output ``pulse:SINK`` (that sink); ``pulse`` and ``default`` play into the default
  sink (or ``PULSE_SINK``).

Playing into the sink being captured would feed the remix back into its own input:
``check_no_feedback`` refuses it. ``DesktopRoute`` sends the desktop's streams
through stemlive instead: a virtual sink becomes the default, stemlive reads its
monitor and plays into the real sink, so only the remix is heard.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass

from model.errors import StemliveError

DESKTOP = "desktop"
PULSE = "pulse"
PORTAUDIO_DEVICE = "pulse"  # ALSA's pulse plugin, as PortAudio lists it
ROUTE_SINK = "stemlive_desktop"
_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class DesktopSource:
    """The monitor of one sink: everything played into that sink."""

    sink: str
    description: str
    monitor: str
    default: bool

    @property
    def spec(self) -> str:
        return f"{DESKTOP}:{self.sink}"

    @property
    def label(self) -> str:
        return f"Desktop audio (monitor of {self.description})"


def is_desktop(spec: str | None) -> bool:
    return spec is not None and (spec == DESKTOP or spec.startswith(DESKTOP + ":"))


def is_pulse_sink(spec: str | None) -> bool:
    return spec is not None and spec.startswith(PULSE + ":")


def _pactl(*args: str) -> str:
    if shutil.which("pactl") is None:
        raise StemliveError(
            "desktop audio needs pactl (Debian package pulseaudio-utils) and a running "
            "PulseAudio or PipeWire server"
        )
    try:
        r = subprocess.run(
            ["pactl", *args], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise StemliveError("the sound server did not answer pactl within 5 s") from None
    if r.returncode != 0:
        msg = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no answer"]
        raise StemliveError(f"pactl {' '.join(args)}: {msg[0]}")
    return r.stdout


def server_running() -> bool:
    """True when a PulseAudio or PipeWire-pulse server answers."""
    try:
        _pactl("info")
    except StemliveError:
        return False
    return True


def default_sink() -> str:
    return _pactl("get-default-sink").strip()


def list_sources() -> list[DesktopSource]:
    """Every sink's monitor; empty when no sound server answers."""
    try:
        sinks = json.loads(_pactl("-f", "json", "list", "sinks") or "[]")
        default = default_sink()
    except (StemliveError, ValueError):
        return []
    return [
        DesktopSource(
            s["name"],
            s.get("description") or s["name"],
            s.get("monitor_source") or s["name"] + ".monitor",
            s["name"] == default,
        )
        for s in sinks
    ]


def resolve_source(spec: str) -> DesktopSource:
    """``desktop`` or ``desktop:SINK`` to the monitor it means; a clear error otherwise."""
    if not server_running():
        raise StemliveError(
            "desktop audio: no PulseAudio or PipeWire server answers (pactl info failed); "
            "start your desktop's sound server, or pick a sound-card input"
        )
    sources = list_sources()
    names = ", ".join(s.spec for s in sources) or "none"
    want = spec.partition(":")[2].strip()
    if not want:
        found = [s for s in sources if s.default]
    else:
        found = [s for s in sources if s.sink == want] or [
            s for s in sources if want.lower() in s.description.lower()
        ]
    if len(found) != 1:
        raise StemliveError(f"no single desktop source {spec!r}; desktop sources: {names}")
    return found[0]


def output_sink(spec: str | None, device_name: str | None) -> str | None:
    """The sink an output plays into when it goes through the sound server, else None.

    ``spec`` is what the user asked for; ``device_name`` the PortAudio device it became.
    """
    if spec is None:
        return None
    if is_pulse_sink(spec):
        return spec.partition(":")[2]
    if device_name in (PULSE, "default") and server_running():
        return os.environ.get("PULSE_SINK") or default_sink()
    return None


def check_no_feedback(source: DesktopSource, sink: str | None) -> None:
    """Refuse to play into the sink whose monitor is the input."""
    if sink is not None and sink == source.sink:
        raise StemliveError(
            f"refusing to play into {source.sink!r}: it is the sink being captured "
            f"({source.label}), so the remix would feed back into its own input. Play into "
            "another output (--output pulse:SINK, a sound card, or JACK), or let stemlive "
            "route the desktop through itself (stemlive live --route-desktop)"
        )


@contextlib.contextmanager
def pulse_env(source: str | None, sink: str | None):
    """Point ALSA's pulse device at this source and sink while a stream opens."""
    keys = {"PULSE_SOURCE": source, "PULSE_SINK": sink}
    old = {k: os.environ.get(k) for k in keys}
    for k, v in keys.items():
        if v is not None:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class DesktopRoute:
    """Route the desktop through stemlive: a virtual sink made the default, streams moved to it.

    ``input_spec`` captures the virtual sink; ``output_spec`` plays into the sink that
    was the default. ``close()`` moves the streams back and removes the virtual sink.
    """

    def __init__(self) -> None:
        if not server_running():
            raise StemliveError(
                "routing the desktop needs a PulseAudio or PipeWire server (pactl info failed)"
            )
        self.real_sink = default_sink()
        if self.real_sink == ROUTE_SINK:
            raise StemliveError(f"{ROUTE_SINK} is already the default sink: another stemlive?")
        self.module = _pactl(
            "load-module",
            "module-null-sink",
            f"sink_name={ROUTE_SINK}",
            "sink_properties=device.description=stemlive-desktop-input",
        ).strip()
        _pactl("set-default-sink", ROUTE_SINK)
        self._move_streams(ROUTE_SINK)  # before stemlive opens its own stream

    @property
    def input_spec(self) -> str:
        return f"{DESKTOP}:{ROUTE_SINK}"

    @property
    def output_spec(self) -> str:
        return f"{PULSE}:{self.real_sink}"

    def _move_streams(self, sink: str) -> None:
        for line in _pactl("list", "short", "sink-inputs").splitlines():
            index = line.split("\t", 1)[0]
            if index.isdigit():
                with contextlib.suppress(StemliveError):  # a stream that just ended
                    _pactl("move-sink-input", index, sink)

    def close(self) -> None:
        """Call after stemlive's stream is closed."""
        with contextlib.suppress(StemliveError):
            _pactl("set-default-sink", self.real_sink)
            self._move_streams(self.real_sink)
            _pactl("unload-module", self.module)

    def __enter__(self) -> DesktopRoute:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
