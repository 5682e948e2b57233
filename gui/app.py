"""Start the desktop application: QApplication, theme, engine, window; optional timed exit.

``--quit-after`` and ``--screenshot`` exist for headless runs (Xvfb screenshots,
stability measurements); ``--stats`` writes what the window saw as JSON.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from gui.engine_api import EngineSettings
from gui.engine_process import EngineProcess, open_engine
from gui.main_window import MainWindow
from gui.settings_store import SettingsStore
from gui.theme import apply_theme
from realtime.fx import load_chains
from realtime.midi import MidiMap


@dataclass(frozen=True)
class AppOptions:
    """What ``stemlive gui`` was asked for on the command line."""

    file: str | None = None
    model: str | None = None
    input_device: str | None = None
    output_device: str | None = None
    no_output: bool = False
    latency_preset: str | None = None
    arithmetic: str | None = None  # "int8" or "float"; None: the stored setting
    loop: bool = False
    fps: float = 30.0
    settings_file: str | None = None
    quit_after_s: float | None = None
    screenshot: str | None = None
    stats: str | None = None
    fx: str | None = None  # a chain file
    key: int | None = None
    midi: str | None = None  # a MIDI port; None: the stored one, if any
    midi_map: str | None = None  # a MIDI map file
    in_process: bool = False  # the engine in the window's process (debugging)


def open_settings(path: str | None) -> QSettings:
    """The user's QSettings, or an INI file (portable installs, tests, measurements)."""
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("stemlive", "stemlive")


def engine_settings(stored: EngineSettings, opts: AppOptions) -> EngineSettings:
    """Stored settings overridden by what the command line names."""
    s = stored
    if opts.model:
        s = replace(s, model_folder=opts.model)
    if opts.input_device:
        s = replace(s, input_device=opts.input_device)
    if opts.output_device:
        s = replace(s, output_device=opts.output_device)
    if opts.no_output:
        s = replace(s, output_device=None)
    if opts.latency_preset:
        s = replace(s, latency_preset=opts.latency_preset)
    if opts.arithmetic:
        s = replace(s, int8=opts.arithmetic == "int8")
    return s


def window_stats(window: MainWindow) -> dict:
    """What a headless run reports: frames drawn, GUI frame cost, the engine's counters."""
    snap = window.last_snapshot
    origin = window.spectrograms.mapTo(window, QPoint(0, 0))
    costs = sorted(window.frame_seconds) or [0.0]
    return {
        "frames": window.frames,
        "spectrogram_columns": window.spectrograms.columns_drawn,
        "gui_frame_ms_p50": 1000 * costs[len(costs) // 2],
        "gui_frame_ms_p99": 1000 * costs[min(len(costs) - 1, int(0.99 * len(costs)))],
        "xruns": snap.xruns,
        "misses": snap.misses,
        "miss_at_s": window.miss_at_s,  # seconds after the first running frame, every engine
        "xrun_at_s": window.xrun_at_s,
        "worker_p99_ms": snap.worker_p99_ms,
        "worker_load": snap.worker_load,
        "latency_ms": snap.latency_ms,
        "fx_latency_ms": snap.fx_latency_ms,
        "key": snap.key,
        "has_output": snap.has_output,
        "last_error": window.last_error,
        "midi_port": window.midi.input.port if window.midi.input else None,
        "midi_messages": window.midi.indicator.blinks,
        "midi_applied": window.midi.applied,
        "engine_restarts": window.engine_restarts,
        "restart_seconds": list(getattr(window.engine, "restart_seconds", [])),
        "engine_process": isinstance(window.engine, EngineProcess),
        # Where the spectrograms are in a screenshot: x, y, width, height.
        "spectrogram_rect": [
            origin.x(),
            origin.y(),
            window.spectrograms.width(),
            window.spectrograms.height(),
        ],
    }


def run(opts: AppOptions, argv: list[str] | None = None) -> int:
    """Open the window and run the Qt event loop until it closes; returns the exit code."""
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("stemlive")
    app.setOrganizationName("stemlive")
    apply_theme(app)
    store = SettingsStore(open_settings(opts.settings_file))
    settings = engine_settings(store.engine_settings(), opts)
    store.set_engine_settings(settings)
    chains = None
    engine = open_engine(settings, opts.in_process)  # loads the model
    if opts.fx is not None:
        chains = load_chains(opts.fx, engine.stems)  # errors before the window opens
    midi_map = MidiMap.load(opts.midi_map, engine.stems) if opts.midi_map else None
    window = MainWindow(engine, store, fps=opts.fps)
    if midi_map is not None:
        window.midi.set_map(midi_map)
    window.midi.open(opts.midi or store.midi_port())
    if chains is not None or opts.key is not None:
        mix = window.mixer.mix
        window.mixer.set_mix(
            replace(
                mix,
                fx=chains if chains is not None else mix.fx,
                key=opts.key if opts.key is not None else mix.key,
            )
        )
    window.show()
    last = store.last_file()
    demo = Path(__file__).resolve().parent.parent / "model" / "demo" / "demo_song.flac"
    file = opts.file or (last if last and Path(last).is_file() else None)
    window.start(file or (str(demo) if demo.is_file() else None))
    if opts.loop:
        window.transport.loop.setChecked(True)

    if opts.quit_after_s is not None:

        def finish() -> None:
            if opts.screenshot:
                Path(opts.screenshot).parent.mkdir(parents=True, exist_ok=True)
                window.grab().save(opts.screenshot)
            if opts.stats:
                Path(opts.stats).write_text(json.dumps(window_stats(window), indent=2) + "\n")
            window.close()

        QTimer.singleShot(int(opts.quit_after_s * 1000), finish)
    return int(app.exec())
