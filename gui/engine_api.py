"""What the GUI needs from the live engine, written down as a ``typing.Protocol``.

The window is built against this interface only; ``gui/engine_adapter.py``
fits the real engine (``realtime/``) to it. Two kinds of calls:

- *Parameter* calls (gains, mute, solo, bypass, transport) are cheap, lock-free
  assignments on the engine side: the GUI thread may call them directly.
- *Blocking* calls (start, stop, open a file, record) may wait on devices, the
  disk or a thread join: the GUI only ever runs them on ``EngineRunner``'s
  worker thread (``gui/engine_runner.py``).

Axes: ``k`` source (input first, then each stem), ``t`` spectrogram column,
``f`` frequency bin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from realtime import DEFAULT_SAFETY_MS

LATENCY_PRESETS = ("standard", "low-latency")
LOW_LATENCY_WEIGHTS = "low-latency"


@dataclass(frozen=True)
class EngineSettings:
    """What the settings dialog chooses; applying it restarts the engine.

    ``None`` for a device means "none": no input device plays a file only, no
    output device runs the separation silently (a headless machine).
    """

    input_device: str | None = None
    output_device: str | None = None
    sample_rate: int | None = None  # None: the output device's (or the model's) rate
    latency_preset: str = "standard"
    safety_ms: float = DEFAULT_SAFETY_MS  # the window shares the interpreter lock with the worker
    model_folder: str | None = None  # None: the shipped default model
    stem_outputs: tuple[str, ...] = ()  # stems with an output pair of their own (routing)
    monitor_mix: bool = False  # a second mix with its own faders on the last pair
    # The model's step with int8 weights (onnxruntime's dynamic quantization): ~1.5x faster,
    # within 0.05 dB of the float step on every test set; False: the float step, exact.
    int8: bool = True

    def __post_init__(self) -> None:
        if self.latency_preset not in LATENCY_PRESETS:
            raise ValueError(
                f"latency preset must be one of {', '.join(LATENCY_PRESETS)}, "
                f"not {self.latency_preset!r}"
            )
        if not 0.0 <= self.safety_ms <= 500.0:
            raise ValueError(f"safety buffer must be 0..500 ms, not {self.safety_ms}")


def model_for(settings: EngineSettings) -> str | None:
    """Which weights the settings ask for (None: the shipped default)."""
    if settings.model_folder:
        return settings.model_folder
    if settings.latency_preset == "low-latency":
        return LOW_LATENCY_WEIGHTS
    return None


@dataclass(frozen=True)
class Levels:
    """Peak and RMS of the last block, linear (0..1 is full scale), per source."""

    peak: float = 0.0
    rms: float = 0.0


@dataclass(frozen=True)
class GuiSnapshot:
    """Everything one GUI frame draws, copied out of the engine at one instant."""

    levels: dict[str, Levels] = field(default_factory=dict)  # "input", stems..., "master"
    spectrogram: np.ndarray | None = None  # k t f, dB, the last t columns, oldest first
    spectrogram_sources: tuple[str, ...] = ()  # names along k ("input", stems...)
    spectrogram_count: int = 0  # columns produced since start: new ones = count - last seen
    spectrogram_freqs: np.ndarray | None = None  # f, Hz of each bin
    column_seconds: float = 0.0  # time between two columns
    latency_ms: float = 0.0
    fx_latency_ms: float = 0.0  # of latency_ms: effect chains and key shift
    # latency_ms part by part: model, effects/key, resample in/out, block, safety, device in/out
    latency_parts_ms: dict[str, float] = field(default_factory=dict)
    key: int = 0
    worker_load: float = 0.0  # fraction of real time the worker spends computing
    worker_p50_ms: float = 0.0
    worker_p99_ms: float = 0.0
    gc_max_ms: float = 0.0  # the engine process's longest garbage-collector pause
    gc_full: int = 0  # ... and its full passes, since the stream started
    xruns: int = 0
    misses: int = 0
    position_s: float = 0.0
    duration_s: float = 0.0
    playing: bool = False
    looping: bool = False
    recording: bool = False
    running: bool = False
    reconnecting: bool = False  # the JACK server went away; the engine plays on once it is back
    has_output: bool = False  # False: nothing is heard (no output device)
    outputs: tuple[str, ...] = ()  # output pairs: "main", stems..., "monitor"
    output_ports: tuple[str, ...] = ()  # where they go: JACK ports (two a pair) or channels


@dataclass(frozen=True)
class EngineEvent:
    """Something the engine reports asynchronously (an error, a device gone, end of file)."""

    # "error", "device-lost", "reconnecting", "reconnected" (a JACK server gone and back),
    # "end-of-file", "info"; an engine in a process of its own
    # also says "engine-lost" (it died) and "engine-restarted" (a new one took over)
    kind: str
    message: str


@dataclass(frozen=True)
class DeviceChoice:
    """An audio device as the settings dialog lists it."""

    name: str
    inputs: int
    outputs: int
    default_rate: float
    label: str = ""  # what the user reads, when not the name (e.g. "Desktop audio (...)")


@runtime_checkable
class EngineApi(Protocol):
    """The live engine as the GUI drives it."""

    @property
    def stems(self) -> tuple[str, ...]: ...

    @property
    def model_name(self) -> str: ...

    @property
    def model_trained(self) -> bool: ...

    # -- blocking: only on the runner's worker thread ---------------------------
    def start(self, settings: EngineSettings) -> None:
        """(Re)start streaming with these settings; raises StemliveError on failure."""

    def stop(self) -> None:
        """Stop streaming and release devices; safe to call when stopped."""

    def open_file(self, path: Path) -> float:
        """Play a file as the source; returns its duration in seconds."""

    def use_input_device(self) -> None:
        """Use the live input device as the source instead of a file."""

    def start_recording(self, folder: Path, stems: bool = True, mix: bool = True) -> Path:
        """Record the remix and/or each stem to WAV files in a new folder; returns it."""

    def stop_recording(self) -> None:
        """Close the recording files."""

    def devices(self) -> list[DeviceChoice]:
        """Audio devices the engine can open."""

    def close(self) -> None:
        """Let go of the engine for good (after stop; the window is closing)."""

    # -- parameters: cheap, callable from the GUI thread -------------------------
    def play(self) -> None: ...

    def pause(self) -> None: ...

    def seek(self, seconds: float) -> None: ...

    def set_loop(self, on: bool) -> None: ...

    def set_gain_db(self, stem: str, db: float) -> None:
        """``-inf`` silences the stem."""

    def set_mute(self, stem: str, on: bool) -> None: ...

    def set_solo(self, stem: str, on: bool) -> None: ...

    def set_master_db(self, db: float) -> None: ...

    def set_bypass(self, on: bool) -> None:
        """True plays the latency-aligned original instead of the remix."""

    def preload_fx(self, spec: dict) -> None:
        """Load the VST3s ``spec`` needs where they will run: call on the GUI thread."""

    def set_chains(self, spec: dict) -> None:
        """New effect chains (stem or "master" -> SlotSpecs); restarts a running stream."""

    def set_fx_param(self, target: str, index: int, name: str, value: float) -> None: ...

    def set_fx_bypass(self, target: str, index: int, on: bool) -> None: ...

    def set_key(self, semitones: int) -> None: ...

    def set_monitor_gain_db(self, stem: str, db: float) -> None:
        """The monitor mix's fader for a stem (``-inf`` silences it there)."""

    def snapshot(self) -> GuiSnapshot: ...

    def poll_events(self) -> list[EngineEvent]: ...
