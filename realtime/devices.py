"""Audio devices through PortAudio (sounddevice): list them, find one by name or index.

PortAudio sees only the audio servers that were running when it started, so
``rescan()`` re-initialises it (only when no stream of ours is open). A stream
whose server died cannot be closed (PortAudio's JACK code waits forever for the
dead server): such streams are abandoned, and PortAudio's exit handler, which
would wait on them too, is removed so that the process can still exit.
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass

from model.errors import StemliveError

_abandoned: list = []  # streams of a vanished server: never closed, never collected


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    hostapi: str
    inputs: int
    outputs: int
    default_rate: float

    @property
    def label(self) -> str:
        """Name and host API, as PortAudio's device strings read: "system, JACK Audio ..."."""
        return f"{self.name}, {self.hostapi}"


def _sd():
    try:
        import sounddevice
    except OSError as exc:  # no libportaudio2
        raise StemliveError(f"audio is unavailable: PortAudio did not load ({exc})") from None
    return sounddevice


def rescan() -> None:
    """Re-initialise PortAudio so that servers started since are seen."""
    if _abandoned:
        return  # terminating PortAudio would wait on the dead stream
    sd = _sd()
    sd._terminate()
    sd._initialize()


def list_devices() -> list[Device]:
    sd = _sd()
    apis = sd.query_hostapis()
    return [
        Device(
            i,
            d["name"],
            apis[d["hostapi"]]["name"],
            d["max_input_channels"],
            d["max_output_channels"],
            d["default_samplerate"],
        )
        for i, d in enumerate(sd.query_devices())
    ]


def find_device(spec: str | int, kind: str) -> Device:
    """A device by index or by (a unique part of) its name that has ``kind`` channels."""
    devices = list_devices()
    key = "inputs" if kind == "input" else "outputs"
    usable = [d for d in devices if getattr(d, key) > 0]
    names = ", ".join(f"{d.index}: {d.label}" for d in usable) or "none"
    spec_s = str(spec).strip()
    if spec_s.lower() == "jack":  # the JACK server, not ALSA's "jack" plugin device
        match = [d for d in usable if d.hostapi.startswith("JACK")]
        if len(match) == 1:
            return match[0]
    if spec_s.isdigit():
        match = [d for d in usable if d.index == int(spec_s)]
    else:
        low = spec_s.lower()
        exact = [d for d in usable if low in (d.name.lower(), d.label.lower())]
        match = exact or [d for d in usable if low in d.label.lower()]
    if not match:
        raise StemliveError(f"no {kind} device {spec_s!r}; {kind} devices: {names}")
    if len(match) > 1:
        raise StemliveError(
            f"{kind} device {spec_s!r} is ambiguous: "
            + ", ".join(f"{d.index}: {d.label}" for d in match)
        )
    return match[0]


def abandon(stream) -> None:
    """Keep a stream of a vanished server alive forever and let the process exit anyway."""
    sd = _sd()
    _abandoned.append(stream)
    handler = getattr(sd, "_exit_handler", None)
    if handler is not None:
        atexit.unregister(handler)


def default_device(kind: str) -> Device | None:
    """PortAudio's default input or output device, or None when there is none."""
    sd = _sd()
    index = sd.default.device[0 if kind == "input" else 1]
    found = [d for d in list_devices() if d.index == index]
    if not found or getattr(found[0], "inputs" if kind == "input" else "outputs") < 1:
        return None
    return found[0]
