"""The window's MIDI control: one input port, the map kept in the settings, and MIDI learn.

Messages arrive on rtmidi's thread and cross to the GUI thread through a queued
signal; there they move the mixer panel's controls, which reach the engine by
the same lock-free setters a mouse uses, so what the window shows stays true.
MIDI learn: press Learn, click a control (the click is taken, the control does
not change), move a knob or hit a pad: that message now drives the control.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QWidget

from gui.mixer_panel import MixerPanel
from gui.settings_store import SettingsStore
from model.errors import StemliveError
from realtime.midi import Binding, MidiInput, MidiMap


class MidiControl(QObject):
    """Owns the MidiInput; ``learned(binding_label, target)`` after each mapping learned."""

    message = Signal(object, int)  # emitted on rtmidi's thread, handled on the GUI thread
    learned = Signal(str, str)

    def __init__(self, panel: MixerPanel, store: SettingsStore, parent: QObject | None = None):
        super().__init__(parent)
        self.panel, self.store = panel, store
        self.indicator = panel.midi
        self.map = store.midi_map(panel.stems)
        self.input: MidiInput | None = None
        self.armed: str | None = None
        self.applied = 0
        self.message.connect(self._on_message, Qt.ConnectionType.QueuedConnection)
        self.indicator.learn.toggled.connect(self.set_learning)
        self._show_map()

    @property
    def learning(self) -> bool:
        return self.indicator.learn.isChecked()

    def open(self, port: str | None) -> bool:
        """Listen to ``port`` (a name or a unique part of one); a missing port is shown in
        the indicator, never raised. Returns whether the port is open."""
        self.close()
        if not port:
            self.indicator.show_port(None)
            return False
        try:
            self.input = MidiInput(port, self.message.emit)
        except StemliveError as exc:
            self.indicator.show_port(None, str(exc))
            return False
        self.store.set_midi_port(port)
        self.indicator.show_port(self.input.port)
        return True

    def close(self) -> None:
        midi, self.input = self.input, None
        if midi is not None:
            midi.close()

    def set_map(self, midi_map: MidiMap) -> None:
        self.map = midi_map
        self.store.set_midi_map(midi_map)
        self._show_map()

    def set_learning(self, on: bool) -> None:
        app = QApplication.instance()
        self.armed = None
        if on:
            app.installEventFilter(self)
            self.indicator.show_text("learn: click a control")
        else:
            app.removeEventFilter(self)
            self.indicator.show_text(f"{len(self.map)} mappings")
        if self.indicator.learn.isChecked() != on:
            self.indicator.learn.setChecked(on)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.MouseButtonPress and isinstance(obj, QWidget):
            target = self.panel.learn_target(obj)
            if target is not None:
                self.arm(target)
                return True  # touching a control to learn it does not move it
        return False

    def arm(self, target: str) -> None:
        """The control the next message will be mapped to."""
        self.armed = target
        self.indicator.show_text(f"learn: move a knob for {target}")

    def _on_message(self, binding: Binding, value: int) -> None:
        self.indicator.blink()
        if self.learning and self.armed is not None:
            target, self.armed = self.armed, None
            self.set_map(self.map.learn(binding, target))
            self.indicator.show_text(f"{binding.label()} → {target}")
            self.learned.emit(binding.label(), target)
            return
        target = self.map.target(binding)
        if target is not None:
            try:
                self.panel.apply_midi(target, binding.kind, value)
                self.applied += 1
            except StemliveError:
                pass  # a stored target the engine lacks (another model's stems)

    def _show_map(self) -> None:
        """Every mapping in the Learn button's tooltip, and each control's own in its tooltip."""
        lines = [f"{b.label()} → {t}" for b, t in self.map.items()]
        self.indicator.learn.setToolTip(
            "MIDI learn: click a control, then move a knob on the controller\n\n" + "\n".join(lines)
        )
        for target, widget in self.panel.learn_widgets().items():
            base = widget.property("tip_without_midi")
            if base is None:
                base = widget.toolTip()
                widget.setProperty("tip_without_midi", base)
            b = self.map.binding_for(target)
            widget.setToolTip(f"{base}\nMIDI: {b.label()}" if b else base)
