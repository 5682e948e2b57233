"""Fits the live engine (``realtime.engine.Engine``) to the interface the window is built on.

The model is chosen by the settings (model folder, latency preset) and loaded
on ``start`` (the runner's thread): a change of model replaces the engine's
separator while the engine is stopped. Mixer settings live in the engine's
mixer and survive a model change.
"""

from __future__ import annotations

from pathlib import Path

from gui.engine_api import (
    LOW_LATENCY_WEIGHTS,
    DeviceChoice,
    EngineEvent,
    EngineSettings,
    GuiSnapshot,
    Levels,
    model_for,
)
from model.errors import StemliveError
from model.onnx_step import live_backend
from model.separator import Separator
from realtime import desktop, devices
from realtime.engine import Engine, StreamSettings
from realtime.fx import preload

BLOCK_SIZE = 256


class EngineAdapter:
    """The ``gui.engine_api.EngineApi`` on top of the real engine."""

    def __init__(self, separator: Separator, fixed_model: bool = False) -> None:
        self.engine = Engine(separator)
        self._fixed = fixed_model  # a separator given by the caller: settings do not replace it
        self._model_key: tuple[str | None, str] | None = None  # (weights, backend)

    # -- model -----------------------------------------------------------------------------
    @property
    def stems(self) -> tuple[str, ...]:
        return self.engine.stems

    @property
    def model_name(self) -> str:
        sep = self.engine.separator
        name = str(sep.info.get("name") or sep.info.get("folder") or "model")
        return f"{name} · int8" if sep.backend == "onnx-int8" else name

    @property
    def model_trained(self) -> bool:
        return bool(self.engine.separator.info.get("trained", False))

    def _load_model(self, settings: EngineSettings) -> None:
        key = model_for(settings)
        backend = live_backend(settings.int8)
        if self._fixed or (key, backend) == self._model_key:
            return
        try:
            sep = Separator.load(key, backend=backend)
        except (StemliveError, FileNotFoundError) as exc:
            if key == LOW_LATENCY_WEIGHTS:
                raise StemliveError(
                    "no low-latency model is installed: choose the standard preset, "
                    "or a model folder trained at 1024/256"
                ) from None
            raise StemliveError(str(exc)) from None
        if sep.stems != self.engine.stems:
            raise StemliveError(f"{key}: its stems {sep.stems} differ from {self.engine.stems}")
        self.engine.separator = sep
        self.engine.model_rate = sep.sample_rate
        self._model_key = (key, backend)

    # -- blocking ---------------------------------------------------------------------------
    def start(self, settings: EngineSettings) -> None:
        self.engine.stop()
        self._load_model(settings)
        output = settings.output_device
        if output == "default":  # the system's output, or silence on a machine without one
            devices.rescan()
            found = devices.default_device("output")
            output = str(found.index) if found else None
        self.engine.start(
            StreamSettings(
                input_device=settings.input_device,
                output_device=output,
                sample_rate=settings.sample_rate,
                block_size=BLOCK_SIZE,
                safety_ms=settings.safety_ms,
                stem_outputs=tuple(s for s in self.engine.stems if s in settings.stem_outputs),
                monitor_mix=settings.monitor_mix,
            )
        )

    def stop(self) -> None:
        self.engine.stop()

    def close(self) -> None:
        self.engine.close()

    def open_file(self, path: Path) -> float:
        return self.engine.open_file(path)

    def use_input_device(self) -> None:
        self.engine.use_input_device()

    def start_recording(self, folder: Path, stems: bool = True, mix: bool = True) -> Path:
        return self.engine.start_recording(folder, stems, mix)

    def stop_recording(self) -> None:
        self.engine.stop_recording()

    def devices(self) -> list[DeviceChoice]:
        if not self.engine.running:
            devices.rescan()
        found = [
            DeviceChoice(d.label, d.inputs, d.outputs, d.default_rate)
            for d in devices.list_devices()
        ]
        found += [  # what the computer plays: the monitor of each PulseAudio/PipeWire sink
            DeviceChoice(s.spec, 2, 0, 0.0, s.label) for s in desktop.list_sources()
        ]
        found += [
            DeviceChoice(f"{desktop.PULSE}:{s.sink}", 0, 2, 0.0, f"Sound server: {s.description}")
            for s in desktop.list_sources()
        ]
        return found

    # -- parameters -------------------------------------------------------------------------
    def play(self) -> None:
        self.engine.play()

    def pause(self) -> None:
        self.engine.pause()

    def seek(self, seconds: float) -> None:
        self.engine.seek(seconds)

    def set_loop(self, on: bool) -> None:
        self.engine.set_loop(on)

    def set_gain_db(self, stem: str, db: float) -> None:
        self.engine.mixer.set_gain_db(stem, min(db, self.engine.mixer.MAX_DB))

    def set_mute(self, stem: str, on: bool) -> None:
        self.engine.mixer.set_mute(stem, on)

    def set_solo(self, stem: str, on: bool) -> None:
        self.engine.mixer.set_solo(stem, on)

    def set_master_db(self, db: float) -> None:
        self.engine.mixer.set_master_db(min(db, self.engine.mixer.MAX_DB))

    def set_bypass(self, on: bool) -> None:
        self.engine.mixer.set_bypass(on)

    def preload_fx(self, spec: dict) -> None:
        preload(spec)  # pedalboard loads VST3s on the main thread only

    def set_chains(self, spec: dict) -> None:
        self.engine.set_chains(spec)

    def set_fx_param(self, target: str, index: int, name: str, value: float) -> None:
        self.engine.set_fx_param(target, index, name, value)

    def set_fx_bypass(self, target: str, index: int, on: bool) -> None:
        self.engine.set_fx_bypass(target, index, on)

    def set_key(self, semitones: int) -> None:
        self.engine.set_key(semitones)

    def set_monitor_gain_db(self, stem: str, db: float) -> None:
        self.engine.monitor.set_gain_db(stem, min(db, self.engine.monitor.MAX_DB))

    def monitor_gain_db(self, stem: str) -> float:
        return self.engine.monitor.gain_db(stem)

    # What the mixer holds (the window's tests read these back).
    def gain_db(self, stem: str) -> float:
        return self.engine.mixer.gain_db(stem)

    def master_db(self) -> float:
        return self.engine.mixer.master_db()

    def solo(self, stem: str) -> bool:
        return self.engine.mixer.solo(stem)

    def mute(self, stem: str) -> bool:
        return self.engine.mixer.mute(stem)

    def bypass(self) -> bool:
        return self.engine.mixer.bypass()

    def audible(self) -> dict[str, bool]:
        return self.engine.mixer.audible()

    # -- reading ----------------------------------------------------------------------------
    def snapshot(self) -> GuiSnapshot:
        s = self.engine.status()
        levels = {k: Levels(s.peak[k], s.rms.get(k, 0.0)) for k in s.peak}
        return GuiSnapshot(
            levels=levels,
            spectrogram=s.spectrogram,
            spectrogram_sources=s.spectrogram_sources,
            spectrogram_count=s.spectrogram_count,
            spectrogram_freqs=s.spectrogram_freqs,
            column_seconds=s.column_seconds,
            latency_ms=s.latency_ms,
            fx_latency_ms=1000.0 * s.fx_latency_samples / self.engine.model_rate,
            latency_parts_ms={k: 1000.0 * v / s.sample_rate for k, v in s.latency_parts.items()},
            key=s.key,
            worker_load=s.worker_load,
            worker_p50_ms=s.worker_p50_ms,
            worker_p99_ms=s.worker_p99_ms,
            gc_max_ms=s.gc_max_ms,
            gc_full=s.gc_full,
            xruns=s.xruns,
            misses=s.misses,
            position_s=s.position_s,
            duration_s=s.duration_s,
            playing=s.playing,
            looping=s.looping,
            recording=s.recording,
            running=s.running,
            reconnecting=s.reconnecting,
            has_output=s.has_output,
            outputs=s.outputs,
            output_ports=s.output_ports,
        )

    def poll_events(self) -> list[EngineEvent]:
        return [EngineEvent(e.kind, e.message) for e in self.engine.poll_events()]


def create_engine(settings: EngineSettings, separator: Separator | None = None) -> EngineAdapter:
    """The engine for the window: ``separator`` if given (tests), else what settings name."""
    if separator is not None:
        return EngineAdapter(separator, fixed_model=True)
    key, backend = model_for(settings), live_backend(settings.int8)
    try:
        sep = Separator.load(key, backend=backend)
    except (StemliveError, FileNotFoundError):  # start() reports it in the window
        key, sep = None, Separator.load(None, backend=backend)
    adapter = EngineAdapter(sep)
    adapter._model_key = (key, backend)
    return adapter
