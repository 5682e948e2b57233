"""The main window: transport, mixer, spectrograms and status, driven by the engine's snapshot.

Threading: the window reads ``engine.snapshot()`` on a QTimer (about 30 fps)
and sends mixer and transport parameters directly (lock-free assignments on
the engine side, or messages to the engine process). Everything that may
block - starting, stopping, device changes, opening files, recording - goes
through ``EngineRunner``. An engine process that dies is restarted by
``EngineProcess``; the window shows what happened in a notice line.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.engine_api import EngineApi, EngineEvent, EngineSettings, GuiSnapshot
from gui.engine_runner import EngineRunner
from gui.midi_control import MidiControl
from gui.mixer_panel import MixerPanel, strip_differences
from gui.presets import MixState, Routing, builtin_presets
from gui.routing_dialog import RoutingDialog
from gui.settings_dialog import SettingsDialog
from gui.settings_store import SettingsStore
from gui.spectrogram_view import SpectrogramView
from gui.theme import ERROR, WARNING
from gui.transport import SOURCE_FILE, SOURCE_INPUT, TransportBar
from model.errors import StemliveError

AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.mp3 *.aiff *.aif);;All files (*)"
ENGINE_NOTICE_MS = 30_000  # how long "the engine was restarted" stays up
# This many misses within OVERLOAD_WINDOW_S: say why and what to change (at most once a window).
OVERLOAD_MISSES = 3
OVERLOAD_WINDOW_S = 30.0
OVERLOAD_LOAD = 0.8  # a worker busy this share of its time has no room for a slow block
HEADLESS_NOTICE = (
    "No output device: the separation runs and the meters move, but nothing is heard. "
    "Choose an output device in Settings (Ctrl+,)."
)


# What Shift+1..9 send on a US layout; other layouts send Key_1.. with Shift, also handled.
_SHIFTED_DIGITS = (
    Qt.Key.Key_Exclam,
    Qt.Key.Key_At,
    Qt.Key.Key_NumberSign,
    Qt.Key.Key_Dollar,
    Qt.Key.Key_Percent,
    Qt.Key.Key_AsciiCircum,
    Qt.Key.Key_Ampersand,
    Qt.Key.Key_Asterisk,
    Qt.Key.Key_ParenLeft,
)


def shifted_digit(key: int, modifiers: Qt.KeyboardModifier) -> int | None:
    """0-based stem index of Shift+1..9, whatever the layout made of it, else None."""
    if not modifiers & Qt.KeyboardModifier.ShiftModifier:
        return None
    if Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
        return int(key) - int(Qt.Key.Key_1)
    for i, k in enumerate(_SHIFTED_DIGITS):
        if key == k:
            return i
    return None


class MainWindow(QMainWindow):
    """The stemlive window around one engine."""

    def __init__(
        self,
        engine: EngineApi,
        store: SettingsStore,
        fps: float = 30.0,
        record_root: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.store = store
        self.runner = EngineRunner(self)
        self.runner.done.connect(self._on_done)
        self.runner.failed.connect(self._on_failed)
        self.settings = store.engine_settings()
        self.record_root = record_root or Path.home() / "stemlive-recordings"
        self.current_file: str | None = None
        self.source = SOURCE_FILE
        self.last_snapshot = GuiSnapshot()
        self.last_error: str = ""  # the last message shown to the user (tests read it)
        self.frames = 0
        self.frame_seconds: list[float] = []  # time spent per refresh, for the stability note
        # Seconds after the first running frame at which the engine's miss / xrun counters
        # went up (a headless run's --stats says when, not only how many).
        self.miss_at_s: list[float] = []
        self.xrun_at_s: list[float] = []
        self.counters_since: float | None = None  # time.monotonic() of that first frame
        self._advised_at: float | None = None  # when the overload advice last showed (same clock)
        self._message_box: QMessageBox | None = None
        self.setWindowTitle("stemlive")
        self.setAcceptDrops(True)

        stems = engine.stems
        self.transport = TransportBar()
        self.transport.set_recent(store.recent_files())
        self.mixer = MixerPanel(stems)
        self.midi = MidiControl(self.mixer, store, self)
        self.spectrograms = SpectrogramView(("input", *stems))
        self.notice = QLabel(HEADLESS_NOTICE)
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.engine_notice = QLabel()  # the engine process died / was restarted
        self.engine_notice.setObjectName("notice")
        self.engine_notice.setWordWrap(True)
        self.engine_notice.hide()
        self.engine_restarts = 0
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self.engine_notice.hide)

        self.view_box = QComboBox()
        self.view_box.addItem("All stacked", None)
        for s in ("input", *stems):
            self.view_box.addItem(s.capitalize(), s)
        self.view_box.setToolTip("Spectrograms: all stacked, or one large (V cycles)")
        settings_button = QPushButton("Settings…")
        settings_button.setToolTip("Devices, sample rate, latency, model (Ctrl+,)")
        settings_button.clicked.connect(lambda: self.open_settings())
        routing_button = QPushButton("Routing…")
        routing_button.setToolTip("Stems to outputs of their own, and a monitor mix (Ctrl+R)")
        routing_button.clicked.connect(lambda: self.open_routing())
        self.routing_dialog: RoutingDialog | None = None

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(QLabel("Spectrograms"))
        head.addWidget(self.view_box)
        head.addStretch(1)
        head.addWidget(self.spectrograms.colour_scale())
        head.addSpacing(12)
        head.addWidget(routing_button)
        head.addWidget(settings_button)
        rl.addLayout(head)
        rl.addWidget(self.spectrograms, 1)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.mixer)
        split.addWidget(right)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([560, 720])

        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(6, 6, 6, 6)
        cl.addWidget(self.transport)
        cl.addWidget(self.notice)
        cl.addWidget(self.engine_notice)
        cl.addWidget(split, 1)
        self.setCentralWidget(central)

        self._build_status_bar()
        self._build_shortcuts()
        self._connect()

        self._refresh_presets()
        self.mixer.set_mix(store.mix(stems))
        single = store.spectrogram_single()
        if single in ("input", *stems):
            self.view_box.setCurrentIndex(self.view_box.findData(single))
        geometry = store.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)

        self.timer = QTimer(self)
        self.timer.setInterval(max(1, int(round(1000.0 / fps))))
        self.timer.timeout.connect(self.refresh)

    # -- building --------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_latency = QLabel("latency –")
        self.status_cpu = QLabel("CPU –")
        self.status_xruns = QLabel("xruns 0")
        self.status_misses = QLabel("misses 0")
        self.status_model = QLabel(f"model {self.engine.model_name}")
        self.status_untrained = QLabel("untrained")
        self.status_untrained.setStyleSheet(f"color: {WARNING}; font-weight: bold;")
        self.status_untrained.setToolTip("This model has random weights: the stems are not real")
        self.status_untrained.setVisible(not self.engine.model_trained)
        self.status_state = QLabel("starting…")
        for w in (self.status_state,):
            bar.addWidget(w, 1)
        for w in (
            self.status_latency,
            self.status_cpu,
            self.status_xruns,
            self.status_misses,
            self.status_model,
            self.status_untrained,
        ):
            bar.addPermanentWidget(w)

    def _build_shortcuts(self) -> None:
        def key(seq: str, slot, name: str) -> None:
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(slot)
            sc.setObjectName(name)

        key("Space", self.toggle_play, "play")
        key("L", lambda: self.transport.loop.toggle(), "loop")
        key("B", self.mixer.toggle_bypass, "bypass")
        key("R", lambda: self.transport.record.toggle(), "record")
        key("V", self._cycle_view, "view")
        key("Left", lambda: self._nudge(-5.0), "back")
        key("Right", lambda: self._nudge(5.0), "forward")
        key("Home", lambda: self.seek(0.0), "home")
        key("0", lambda: self.mixer.apply_preset("Full mix"), "reset-mix")
        for i in range(min(9, len(self.engine.stems))):
            key(str(i + 1), lambda i=i: self.mixer.toggle_solo(i), f"solo{i + 1}")
        # Shift+digit (mute) is in keyPressEvent: it reaches Qt as the layout's shifted symbol.
        open_action = QAction("Open…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self.choose_file)
        settings_action = QAction("Settings…", self)
        settings_action.setShortcut(QKeySequence("Ctrl+,"))
        settings_action.triggered.connect(lambda: self.open_settings())
        routing_action = QAction("Routing…", self)
        routing_action.setShortcut(QKeySequence("Ctrl+R"))
        routing_action.triggered.connect(lambda: self.open_routing())
        self.addActions([routing_action])
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.addActions([open_action, settings_action, quit_action])

    def _connect(self) -> None:
        t = self.transport
        t.open_requested.connect(self.choose_file)
        t.recent_chosen.connect(self.load_file)
        t.play_toggled.connect(self.set_playing)
        t.seek_requested.connect(self.seek)
        t.loop_toggled.connect(self.engine.set_loop)
        t.source_changed.connect(self.set_source)
        t.record_toggled.connect(self.set_recording)
        self.mixer.mix_changed.connect(self._on_mix_changed)
        self.mixer.save_preset_requested.connect(self.save_preset)
        self.mixer.preset_applied.connect(self.apply_preset_routing)
        self.view_box.currentIndexChanged.connect(self._on_view)

    # -- engine lifecycle ------------------------------------------------------------
    def start(self, file: str | None = None) -> None:
        """Start the engine (off the GUI thread), then open ``file`` or the last one."""
        self.timer.start()
        self.status_state.setText("starting the engine…")
        settings = self.settings
        self.runner.submit("start", lambda: self.engine.start(settings))
        file = file or self.store.last_file()
        if file and Path(file).is_file():
            self.load_file(file)

    def apply_settings(self, settings: EngineSettings) -> None:
        """Store new settings and restart the engine with them, keeping the song's place."""
        self.settings = settings
        self.store.set_engine_settings(settings)
        self.status_state.setText("restarting the engine…")
        self.spectrograms.reset()
        self.runner.submit("restart", self._restart_job(settings))

    def _restart_job(self, settings: EngineSettings, previous: EngineSettings | None = None):
        """A job for the runner: restart with ``settings``, the song at its place. With
        ``previous``, a failed start restarts with that and raises what went wrong."""
        snap = self.last_snapshot
        was_playing, position, file = snap.playing, snap.position_s, self.current_file

        def start(s: EngineSettings) -> None:
            self.engine.stop()
            self.engine.start(s)
            if file and self.source == SOURCE_FILE:
                self.engine.open_file(Path(file))
                self.engine.seek(position)
                if was_playing:
                    self.engine.play()
            elif self.source == SOURCE_INPUT:
                self.engine.use_input_device()

        def restart() -> None:
            try:
                start(settings)
            except Exception as exc:
                if previous is None:
                    raise
                start(previous)
                raise StemliveError(str(exc)) from None

        return restart

    def routing(self) -> Routing:
        """The outputs and the monitor mix now (what a saved preset keeps)."""
        return Routing(
            self.settings.stem_outputs,
            self.settings.monitor_mix,
            self.store.monitor_gains(self.engine.stems),
        )

    def apply_preset_routing(self, name: str) -> None:
        """After the mixer applied preset ``name``: its outputs and monitor faders, if it has
        them. Outputs the device cannot give are refused and the previous ones kept."""
        routing = self.mixer.presets[name].routing
        if routing is None:
            return
        self._routing_before = self.routing()
        for stem, db in routing.monitor_gains.items():
            self._set_monitor_gain(stem, db)
        if self.routing_dialog is not None:
            self.routing_dialog.close()
        if (routing.stem_outputs, routing.monitor_mix) == (
            self.settings.stem_outputs,
            self.settings.monitor_mix,
        ):
            return
        previous = self.settings
        settings = replace(
            previous, stem_outputs=routing.stem_outputs, monitor_mix=routing.monitor_mix
        )
        self.settings = settings
        self.store.set_engine_settings(settings)
        self.status_state.setText("restarting the engine…")
        self.spectrograms.reset()
        self._preset_outputs = (name, previous)
        self.runner.submit("preset-outputs", self._restart_job(settings, previous))

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop the refresh timer and the engine, waiting for it (used on close)."""
        self.timer.stop()
        self.midi.close()
        if self.transport.record.isChecked():
            self.runner.submit("stop-recording", self.engine.stop_recording)
        self.runner.submit("stop", self.engine.stop)
        self.runner.submit("close", self.engine.close)
        self.runner.wait(timeout_ms)

    def _on_done(self, name: str, result: object) -> None:
        if name in ("start", "restart", "preset-outputs"):
            self.push_mix()  # a fresh engine starts neutral
            for stem, db in self.store.monitor_gains(self.engine.stems).items():
                self.engine.set_monitor_gain_db(stem, db)
            self.status_state.setText("running")
            self.status_model.setText(f"model {self.engine.model_name}")
            self.status_untrained.setVisible(not self.engine.model_trained)
        elif name == "open":
            path, self.current_file = str(result), str(result)
            self.transport.set_recent(self.store.add_recent(path))
            self.transport.file_label.setText(Path(path).name)
            self.setWindowTitle(f"stemlive – {Path(path).name}")
            self.source = SOURCE_FILE
            self.transport.set_source(SOURCE_FILE)
            self.status_state.setText(f"playing {Path(path).name}")
            self.engine.play()
        elif name == "input":
            self.source = SOURCE_INPUT
            self.transport.set_source(SOURCE_INPUT)
            self.status_state.setText(f"live input: {self.settings.input_device}")
        elif name == "record":
            self.status_state.setText(f"recording to {result}")
        elif name == "stop-recording":
            self.status_state.setText("recording saved")

    def _on_failed(self, name: str, message: str) -> None:
        if name == "preset-outputs":  # the engine runs again with the previous outputs
            preset, previous = self._preset_outputs
            self.settings = previous
            self.store.set_engine_settings(previous)
            for stem, db in self._routing_before.monitor_gains.items():
                self._set_monitor_gain(stem, db)
            self._on_done("restart", None)
            monitor = ("monitor",) if previous.monitor_mix else ()
            pairs = ", ".join(("main", *previous.stem_outputs, *monitor))
            self.show_error(
                "Outputs not changed",
                f"The preset “{preset}” asks for outputs this device cannot give: {message}\n\n"
                f"Its faders were applied; the outputs stay as they were ({pairs}).",
            )
            return
        if name in ("start", "restart"):
            self.status_state.setText("engine stopped")
            self.show_error("The audio engine could not start", message, offer_settings=True)
        elif name == "open":
            self.show_error(
                "Could not open the file", f"{message}\n\nThe previous source keeps playing."
            )
        elif name == "input":
            self.transport.set_source(self.source)
            self.show_error("Could not use the input device", message, offer_settings=True)
        elif name in ("fx", "key"):
            self.show_error("Could not apply the effects", message)
        elif name == "record":
            self.transport.set_recording(False)
            self.show_error("Could not start recording", message)
        else:
            self.show_error(f"{name} failed", message)

    # -- user actions ----------------------------------------------------------------
    def choose_file(self) -> None:
        start = str(Path(self.current_file).parent) if self.current_file else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open a song", start, AUDIO_FILTER)
        if path:
            self.load_file(path)

    def load_file(self, path: str) -> None:
        """Open a song on the runner; the current source plays on until it is ready."""
        p = Path(path)
        self.status_state.setText(f"opening {p.name}…")

        def open_it() -> str:
            self.engine.open_file(p)
            return str(p)

        self.runner.submit("open", open_it)

    def set_source(self, source: str) -> None:
        if source == SOURCE_INPUT:
            if not self.settings.input_device:
                self.transport.set_source(self.source)
                self.show_error(
                    "No input device chosen",
                    "Pick an input device in Settings to separate live audio.",
                    offer_settings=True,
                )
                return
            self.runner.submit("input", self.engine.use_input_device)
        elif self.current_file:
            self.load_file(self.current_file)
        else:
            self.source = SOURCE_FILE
            self.transport.set_source(SOURCE_FILE)
            self.choose_file()

    def toggle_play(self) -> None:
        self.set_playing(not self.last_snapshot.playing)

    def set_playing(self, on: bool) -> None:
        (self.engine.play if on else self.engine.pause)()
        self.transport.set_playing(on)

    def seek(self, seconds: float) -> None:
        self.engine.seek(max(0.0, seconds))

    def _nudge(self, delta: float) -> None:
        snap = self.last_snapshot
        if snap.duration_s > 0:
            self.seek(min(snap.duration_s, max(0.0, snap.position_s + delta)))

    def set_recording(self, on: bool) -> None:
        if on:
            folder = self.record_root / time.strftime("%Y%m%d-%H%M%S")
            self.runner.submit("record", lambda: self.engine.start_recording(folder))
        else:
            self.runner.submit("stop-recording", self.engine.stop_recording)

    def save_preset(self) -> None:
        name, ok = QInputDialog.getText(self, "Save preset", "Name of the preset:")
        name = name.strip()
        if ok and name:
            self.store.save_user_preset(name, replace(self.mixer.mix, routing=self.routing()))
            self._refresh_presets()
            self.mixer.preset_box.setCurrentText(name)

    def _refresh_presets(self) -> None:
        presets = builtin_presets(self.engine.stems)
        presets.update(self.store.user_presets(self.engine.stems))
        self.mixer.set_presets(presets)

    def open_settings(self, message: str = "") -> SettingsDialog:
        """Show the settings dialog (non-modal so the meters keep moving); returns it."""
        try:
            devices = self.engine.devices()
        except Exception as exc:  # noqa: BLE001 - a broken audio server must not stop settings
            devices = []
            message = (message + "\n" if message else "") + f"Could not list devices: {exc}"
        dialog = SettingsDialog(self.settings, devices, message, self)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.settings()))
        dialog.open()
        return dialog

    def open_routing(self) -> RoutingDialog:
        """Show the routing dialog (non-modal: the meters and the sound go on); returns it."""
        if self.routing_dialog is not None:
            self.routing_dialog.close()
        stems = self.engine.stems
        dialog = RoutingDialog(
            stems,
            self.settings.stem_outputs,
            self.settings.monitor_mix,
            self.store.monitor_gains(stems),
            self._set_monitor_gain,
            self,
        )
        dialog.apply_requested.connect(self.apply_routing)
        dialog.show_routing(self.last_snapshot)
        self.routing_dialog = dialog
        dialog.show()
        return dialog

    def _set_monitor_gain(self, stem: str, db: float) -> None:
        self.engine.set_monitor_gain_db(stem, db)
        gains = self.store.monitor_gains(self.engine.stems)
        gains[stem] = db
        self.store.set_monitor_gains(gains)

    def apply_routing(self, stem_outputs: tuple, monitor_mix: bool) -> None:
        """New outputs: restart the engine with them (the song keeps its place)."""
        self.apply_settings(
            replace(self.settings, stem_outputs=tuple(stem_outputs), monitor_mix=monitor_mix)
        )

    def show_error(self, title: str, text: str, offer_settings: bool = False) -> QMessageBox:
        """A non-modal message (the window and the audio go on); optionally a way to Settings."""
        self.last_error = f"{title}: {text}"
        self.status_state.setText(title)
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self
        )
        if offer_settings:
            choose = box.addButton("Choose a device…", QMessageBox.ButtonRole.ActionRole)
            choose.clicked.connect(lambda: self.open_settings(text))
        self._message_box = box
        box.open()
        return box

    def _on_mix_changed(self, old: MixState, new: MixState) -> None:
        e = self.engine
        for stem, diff in strip_differences(old, new).items():
            if "gain_db" in diff:
                e.set_gain_db(stem, float(diff["gain_db"]))
            if "mute" in diff:
                e.set_mute(stem, bool(diff["mute"]))
            if "solo" in diff:
                e.set_solo(stem, bool(diff["solo"]))
        if old.master_db != new.master_db:
            e.set_master_db(new.master_db)
        if old.bypass != new.bypass:
            e.set_bypass(new.bypass)
        if old.fx != new.fx:
            self._apply_fx(old.fx or {}, new.fx or {})
        if old.key != new.key and new.key is not None:
            key = new.key
            self.runner.submit("key", lambda: e.set_key(key))  # the first shift restarts
        self.store.set_mix(new)

    def _apply_fx(self, old: dict, new: dict) -> None:
        """Parameter and bypass changes are queued to the worker; a new structure restarts."""
        e = self.engine
        same = set(old) | set(new)
        plugins = {t: [s.plugin for s in old.get(t, ())] for t in same}
        if any(plugins[t] != [s.plugin for s in new.get(t, ())] for t in same):
            spec = dict(new)
            try:
                e.preload_fx(spec)
            except StemliveError as exc:
                self._on_failed("fx", str(exc))
                return
            self.runner.submit("fx", lambda: e.set_chains(spec))
            return
        for t in same:
            for i, (a, b) in enumerate(zip(old.get(t, ()), new.get(t, ()), strict=True)):
                if a.bypass != b.bypass:
                    e.set_fx_bypass(t, i, b.bypass)
                for name, value in b.params.items():
                    if a.params.get(name) != value:
                        e.set_fx_param(t, i, name, value)

    def push_mix(self) -> None:
        """Send the whole mix to the engine (after a start, which begins neutral)."""
        mix = self.mixer.mix  # chains and key live in the engine across restarts
        self._on_mix_changed(MixState({}, math.nan, not mix.bypass, mix.fx, mix.key), mix)

    def _on_view(self, _index: int) -> None:
        single = self.view_box.currentData()
        self.spectrograms.set_single(single)
        self.store.set_spectrogram_single(single)

    def _cycle_view(self) -> None:
        self.view_box.setCurrentIndex((self.view_box.currentIndex() + 1) % self.view_box.count())

    # -- the frame ---------------------------------------------------------------------
    def refresh(self) -> None:
        """One GUI frame: read the snapshot, draw it, handle the engine's events."""
        t0 = time.perf_counter()
        snap = self.engine.snapshot()
        self._note_counters(self.last_snapshot, snap)
        self.last_snapshot = snap
        self.mixer.show_levels(snap.levels)
        self.spectrograms.push(
            snap.spectrogram,
            snap.spectrogram_sources,
            snap.spectrogram_count,
            snap.spectrogram_freqs,
            snap.column_seconds,
        )
        if self.source == SOURCE_FILE:
            self.transport.show_position(snap.position_s, snap.duration_s)
            self.transport.set_playing(snap.playing)
            self.transport.set_looping(snap.looping)
        self.transport.set_recording(snap.recording)
        if snap.running:
            fx = f" (fx/key {snap.fx_latency_ms:.1f})" if snap.fx_latency_ms else ""
            self.status_latency.setText(f"latency {snap.latency_ms:.1f} ms{fx}")
            tip = "\n".join(f"{k}: {v:.1f} ms" for k, v in snap.latency_parts_ms.items())
            if tip != self.status_latency.toolTip():
                self.status_latency.setToolTip(tip)
            self.status_cpu.setText(
                f"CPU {100 * snap.worker_load:.0f}% (p99 {snap.worker_p99_ms:.1f} ms)"
            )
            _set_style(self.status_cpu, snap.worker_load > OVERLOAD_LOAD)
        self.status_xruns.setText(f"xruns {snap.xruns}")
        self.status_misses.setText(f"misses {snap.misses}")
        for label, bad in ((self.status_xruns, snap.xruns), (self.status_misses, snap.misses)):
            _set_style(label, bool(bad))
        self.notice.setVisible(snap.running and not snap.has_output)
        if self.routing_dialog is not None and self.routing_dialog.isVisible():
            self.routing_dialog.show_routing(snap)
        for event in self.engine.poll_events():
            self.handle_event(event)
        self.frames += 1
        if len(self.frame_seconds) < 100_000:
            self.frame_seconds.append(time.perf_counter() - t0)

    def _note_counters(self, before: GuiSnapshot, snap: GuiSnapshot) -> None:
        """Record when the miss and xrun counters rose (a restarted engine counts from 0)."""
        if not snap.running:
            return
        now = time.monotonic()
        if self.counters_since is None:
            self.counters_since = now
        at = round(now - self.counters_since, 2)
        for log, was, count in (
            (self.miss_at_s, before.misses, snap.misses),
            (self.xrun_at_s, before.xruns, snap.xruns),
        ):
            log += [at] * (count - (was if count >= was else 0))
        if snap.misses > before.misses:
            self._advise_on_misses(at, snap)

    def _advise_on_misses(self, at: float, snap: GuiSnapshot) -> None:
        """Misses coming often: tell the user whether the model is too heavy for this
        machine or the worker was held up, and what to change."""
        recent = sum(1 for t in self.miss_at_s if t > at - OVERLOAD_WINDOW_S)
        last = self._advised_at
        if recent < OVERLOAD_MISSES or (last is not None and at - last < OVERLOAD_WINDOW_S):
            return
        self._advised_at = at
        load = 100 * snap.worker_load
        if snap.worker_load > OVERLOAD_LOAD:
            faster = "" if self.settings.int8 else "int8 arithmetic (Settings), "
            why = (
                f"the separator needs {load:.0f}% of the time it has: this CPU is too slow "
                f"for the model; choose {faster}a lighter model or fewer effects, or close "
                "other programs"
            )
        else:
            why = (
                f"the worker was held up (CPU {load:.0f}%, slowest blocks "
                f"{snap.worker_p99_ms:.1f} ms): a larger safety buffer (Settings) absorbs "
                "such pauses, at the cost of latency"
            )
        self._show_engine_notice(
            f"{recent} misses in {OVERLOAD_WINDOW_S:.0f} s, the dry signal played instead: {why}"
        )

    def handle_event(self, event: EngineEvent) -> None:
        if event.kind == "device-lost":
            self.status_state.setText("audio device lost")
            self.show_error("The audio device is gone", event.message, offer_settings=True)
        elif event.kind == "reconnecting":
            self.status_state.setText("audio server gone: reconnecting…")
            self._show_engine_notice(event.message, keep=True)
        elif event.kind == "reconnected":
            self.status_state.setText("running (the audio server came back)")
            self._show_engine_notice(event.message)
        elif event.kind == "error":
            self.show_error("Audio engine error", event.message)
        elif event.kind == "end-of-file":
            self.transport.set_playing(False)
        elif event.kind == "engine-lost":
            self.status_state.setText("audio engine stopped: restarting it…")
            self._show_engine_notice(event.message)
        elif event.kind == "engine-restarted":
            self.engine_restarts += 1
            self.spectrograms.reset()  # the new engine counts its columns from zero
            self.status_state.setText("running (the engine was restarted)")
            self._show_engine_notice(event.message)
        else:
            self.statusBar().showMessage(event.message, 5000)

    def _show_engine_notice(self, text: str, keep: bool = False) -> None:
        """A line above the mixer; ``keep``: until the next notice, else ENGINE_NOTICE_MS."""
        self.last_error = text
        self.engine_notice.setText(f"{time.strftime('%H:%M:%S')}  {text}")
        self.engine_notice.show()
        if keep:
            self._notice_timer.stop()
        else:
            self._notice_timer.start(ENGINE_NOTICE_MS)

    # -- Qt events -----------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        index = shifted_digit(event.key(), event.modifiers())
        if index is not None:
            self.mixer.toggle_mute(index)
            event.accept()
            return
        super().keyPressEvent(event)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt API)
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.load_file(url.toLocalFile())
                event.acceptProposedAction()
                return

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.store.set_geometry(self.saveGeometry())
        self.store.set_mix(self.mixer.mix)
        self.store.sync()
        self.shutdown()
        super().closeEvent(event)


def _set_style(label: QLabel, bad: bool) -> None:
    """A status label in the error colour or plain; restyled only when it changes."""
    style = f"color: {ERROR};" if bad else ""
    if label.styleSheet() != style:
        label.setStyleSheet(style)
