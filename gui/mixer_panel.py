"""The mixer: a strip per stem, the master strip, presets, and the original/separated bypass."""

from __future__ import annotations

import math
from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.engine_api import Levels
from gui.fx_section import FxSection, ParamEditor
from gui.midi_indicator import MidiIndicator
from gui.presets import MixState, StripState
from gui.stem_strip import StemStrip
from gui.theme import stem_colour
from realtime.fx import SlotSpec
from realtime.midi import fader_db, fx_main, key_semitones, parse_target, switch

MASTER = "master"


class MixerPanel(QFrame):
    """Holds the ``MixState`` the user sees; emits ``mix_changed(old, new)`` on every change.

    The panel never talks to the engine: the main window forwards changes,
    so the same panel works for any engine (and for tests of the logic).
    """

    mix_changed = Signal(object, object)
    save_preset_requested = Signal()
    preset_applied = Signal(str)  # the window applies what the panel does not hold (routing)

    def __init__(self, stems: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.stems = tuple(stems)
        self.mix = replace(MixState.neutral(self.stems), fx={}, key=0)
        self.presets: dict[str, MixState] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)

        top = QHBoxLayout()
        top.addWidget(QLabel("Preset"))
        self.preset_box = QComboBox()
        self.preset_box.setToolTip("Apply a mix to every strip")
        self.preset_box.setMinimumWidth(150)
        top.addWidget(self.preset_box, 1)
        self.save_preset = QPushButton("Save…")
        self.save_preset.setToolTip("Save the current mix as a preset")
        top.addWidget(self.save_preset)
        top.addSpacing(8)
        top.addWidget(QLabel("Key"))
        self.key_box = QSpinBox()
        self.key_box.setObjectName("key")
        self.key_box.setRange(-6, 6)
        self.key_box.setSuffix(" st")
        self.key_box.setToolTip(
            "Shift the accompaniment (every stem but vocals) by semitones; the first shift adds "
            "the key shift's latency (the stream restarts once)"
        )
        top.addWidget(self.key_box)
        self.midi = MidiIndicator()
        top.addWidget(self.midi)
        lay.addLayout(top)

        bypass_row = QHBoxLayout()
        self.original = QPushButton("Original")
        self.separated = QPushButton("Separated")
        self.original.setToolTip("Hear the unprocessed input, latency-aligned (B)")
        self.separated.setToolTip("Hear the remix of the stems (B)")
        self.bypass_group = QButtonGroup(self)
        for b in (self.original, self.separated):
            b.setCheckable(True)
            self.bypass_group.addButton(b)
            bypass_row.addWidget(b)
        self.separated.setChecked(True)
        lay.addLayout(bypass_row)

        strips_row = QHBoxLayout()
        strips_row.setSpacing(6)
        self.strips: dict[str, StemStrip] = {}
        self.fx: dict[str, FxSection] = {}
        for i, name in enumerate(self.stems):
            strip = StemStrip(name, stem_colour(name, i))
            strip.changed.connect(self._on_strip)
            self.strips[name] = strip
            strips_row.addWidget(self._with_fx(strip, name))
        spacer = QFrame()
        spacer.setFixedWidth(6)
        strips_row.addWidget(spacer)
        self.master = StemStrip(MASTER, stem_colour(MASTER), has_buttons=False)
        self.master.changed.connect(self._on_master)
        strips_row.addWidget(self._with_fx(self.master, MASTER))
        lay.addLayout(strips_row, 1)
        self.params = ParamEditor()
        self.params.param_changed.connect(self._on_param)
        lay.addWidget(self.params)
        self.key_box.valueChanged.connect(lambda k: self._set(self._with(key=int(k))))

        self.preset_box.activated.connect(self._on_preset)
        self.save_preset.clicked.connect(self.save_preset_requested)
        self.original.toggled.connect(lambda on: self._set(self._with(bypass=on)))

    def _with_fx(self, strip: StemStrip, target: str) -> QWidget:
        """The strip with its effects section under the buttons (one column)."""
        section = FxSection(target)
        section.chain_changed.connect(self._on_chain)
        section.selected.connect(self._on_select)
        self.fx[target] = section
        strip.layout().addWidget(section)
        return strip

    def _on_chain(self, target: str, slots: tuple) -> None:
        self._set(self._with(fx={**self.mix.fx, target: tuple(slots)}))
        i = self.fx[target].list.currentRow()
        self._on_select(target, i)

    def _on_select(self, target: str, index: int) -> None:
        slots = self.mix.fx.get(target, ())
        self.params.show_slot(target, index, slots[index] if 0 <= index < len(slots) else None)

    def _on_param(self, target: str, index: int, name: str, value: float) -> None:
        slots = list(self.mix.fx.get(target, ()))
        s = slots[index]
        slots[index] = SlotSpec(s.plugin, {**s.params, name: value}, s.bypass)
        self._set(self._with(fx={**self.mix.fx, target: tuple(slots)}))

    # -- state -----------------------------------------------------------------------
    def set_presets(self, presets: dict[str, MixState]) -> None:
        self.presets = dict(presets)
        self.preset_box.blockSignals(True)
        self.preset_box.clear()
        self.preset_box.addItem("(custom)")
        for name in self.presets:
            self.preset_box.addItem(name)
        self.preset_box.blockSignals(False)

    def apply_preset(self, name: str) -> None:
        """Set every strip from a preset; the master level and bypass stay as they are."""
        preset = self.presets[name]
        strips = {s: preset.strips.get(s, StripState()) for s in self.stems}
        fx = self.mix.fx if preset.fx is None else preset.fx
        key = self.mix.key if preset.key is None else preset.key
        self._set(MixState(strips, self.mix.master_db, self.mix.bypass, fx, key))
        self.preset_box.setCurrentText(name)
        self.preset_applied.emit(name)

    def set_mix(self, mix: MixState) -> None:
        """Show a whole mix (from settings or a preset) and announce it."""
        self._set(
            replace(
                mix,
                fx=self.mix.fx if mix.fx is None else mix.fx,
                key=self.mix.key if mix.key is None else mix.key,
            )
        )

    def toggle_solo(self, index: int) -> None:
        if 0 <= index < len(self.stems):
            s = self.stems[index]
            self._set(self.mix.with_strip(s, solo=not self.mix.strips[s].solo))

    def toggle_mute(self, index: int) -> None:
        if 0 <= index < len(self.stems):
            s = self.stems[index]
            self._set(self.mix.with_strip(s, mute=not self.mix.strips[s].mute))

    def toggle_bypass(self) -> None:
        self._set(self._with(bypass=not self.mix.bypass))

    # -- MIDI ------------------------------------------------------------------------
    def learn_widgets(self) -> dict[str, QWidget]:
        """MIDI target -> the control it moves: faders, mute, solo, master, key, bypass, and
        the main slider of the effect shown in the parameter editor."""
        out: dict[str, QWidget] = {MASTER: self.master.fader, "key": self.key_box}
        out["bypass"] = self.original
        for name, strip in self.strips.items():
            out[f"gain:{name}"] = strip.fader
            out[f"mute:{name}"] = strip.mute
            out[f"solo:{name}"] = strip.solo
        main = self.params.main_slider()
        if main is not None:
            out[f"fx:{self.params.target}:{self.params.index + 1}"] = main
        return out

    def learn_target(self, widget: QWidget | None) -> str | None:
        """The MIDI target a widget (or one of its children) is, else None."""
        owners = {w: t for t, w in self.learn_widgets().items()}
        owners[self.separated] = "bypass"
        while widget is not None:
            if widget in owners:
                return owners[widget]
            widget = widget.parentWidget()
        return None

    def apply_midi(self, target: str, kind: str, value: int) -> None:
        """A mapped MIDI message (CC value or note velocity, 0..127) moves the control."""
        t = parse_target(target, self.stems)
        strips = self.mix.strips
        if t.what in ("gain", "mute", "solo"):
            if t.what == "gain":
                change = {"gain_db": fader_db(value)}
            else:
                change = {t.what: switch(kind, value, getattr(strips[t.name], t.what))}
            self.preset_box.setCurrentIndex(0)
            self._set(self.mix.with_strip(t.name, **change))
        elif t.what == MASTER:
            self._set(self._with(master_db=fader_db(value)))
        elif t.what == "bypass":
            self._set(self._with(bypass=switch(kind, value, self.mix.bypass)))
        elif t.what == "key":
            self._set(self._with(key=key_semitones(value)))
        elif t.what == "fx" and (main := fx_main(self.mix.fx or {}, t)) is not None:
            name, lo, hi = main
            x = lo + (hi - lo) * value / 127.0
            self._on_param(t.name, t.slot, name, x)
            if (self.params.target, self.params.index) == (t.name, t.slot):
                self.params.set_value(name, x)

    def show_levels(self, levels: dict[str, Levels]) -> None:
        for name, strip in (*self.strips.items(), (MASTER, self.master)):
            lv = levels.get(name)
            if lv is not None:
                strip.meter.set_levels(lv.peak, lv.rms)

    # -- internals -------------------------------------------------------------------
    def _with(self, **changes: object) -> MixState:
        d = {
            "strips": self.mix.strips,
            "master_db": self.mix.master_db,
            "bypass": self.mix.bypass,
            "fx": self.mix.fx,
            "key": self.mix.key,
        }
        d.update(changes)
        return MixState(**d)

    def _set(self, new: MixState) -> None:
        old, self.mix = self.mix, new
        for name, strip in self.strips.items():
            state = new.strips.get(name, StripState())
            if strip.state() != state:
                strip.set_state(state)
            strip.set_audible(new.audible(name))
        master = StripState(new.master_db)
        if self.master.state().gain_db != new.master_db:
            self.master.set_state(master)
        if self.original.isChecked() != new.bypass:
            (self.original if new.bypass else self.separated).setChecked(True)
        for target, section in self.fx.items():
            slots = tuple(new.fx.get(target, ()))
            if section.slots != slots:
                section.set_slots(slots)
        if self.key_box.value() != new.key:
            self.key_box.blockSignals(True)
            self.key_box.setValue(new.key)
            self.key_box.blockSignals(False)
        if old != new:
            self.mix_changed.emit(old, new)

    def _on_strip(self, name: str, state: StripState) -> None:
        self.preset_box.setCurrentIndex(0)  # any manual change makes the mix custom
        self._set(self.mix.with_strip(name, **vars(state)))

    def _on_master(self, _name: str, state: StripState) -> None:
        self._set(self._with(master_db=state.gain_db))

    def _on_preset(self, index: int) -> None:
        if index > 0:
            self.apply_preset(self.preset_box.itemText(index))


def strip_differences(old: MixState, new: MixState) -> dict[str, dict[str, object]]:
    """Per stem, the fields that changed between two mixes (what to send to the engine)."""
    out: dict[str, dict[str, object]] = {}
    for name, s in new.strips.items():
        o = old.strips.get(name)
        diff = {
            k: getattr(s, k)
            for k in ("gain_db", "mute", "solo")
            if o is None or getattr(o, k) != getattr(s, k)
        }
        if diff:
            out[name] = diff
    return out


def db_text(db: float) -> str:
    return "-inf" if db == -math.inf else f"{db:+.1f} dB"
