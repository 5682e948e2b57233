"""The mixer: a strip per stem, the master strip, presets, and the original/separated bypass."""

from __future__ import annotations

import math

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.engine_api import Levels
from gui.presets import MixState, StripState
from gui.stem_strip import StemStrip
from gui.theme import stem_colour

MASTER = "master"


class MixerPanel(QFrame):
    """Holds the ``MixState`` the user sees; emits ``mix_changed(old, new)`` on every change.

    The panel never talks to the engine: the main window forwards changes,
    so the same panel works for any engine (and for tests of the logic).
    """

    mix_changed = Signal(object, object)
    save_preset_requested = Signal()

    def __init__(self, stems: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.stems = tuple(stems)
        self.mix = MixState.neutral(self.stems)
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
        for i, name in enumerate(self.stems):
            strip = StemStrip(name, stem_colour(name, i))
            strip.changed.connect(self._on_strip)
            self.strips[name] = strip
            strips_row.addWidget(strip)
        spacer = QFrame()
        spacer.setFixedWidth(6)
        strips_row.addWidget(spacer)
        self.master = StemStrip(MASTER, stem_colour(MASTER), has_buttons=False)
        self.master.changed.connect(self._on_master)
        strips_row.addWidget(self.master)
        lay.addLayout(strips_row, 1)

        self.preset_box.activated.connect(self._on_preset)
        self.save_preset.clicked.connect(self.save_preset_requested)
        self.original.toggled.connect(lambda on: self._set(self._with(bypass=on)))

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
        self._set(MixState(strips, self.mix.master_db, self.mix.bypass))
        self.preset_box.setCurrentText(name)

    def set_mix(self, mix: MixState) -> None:
        """Show a whole mix (from settings or a preset) and announce it."""
        self._set(mix)

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

    def show_levels(self, levels: dict[str, Levels]) -> None:
        for name, strip in (*self.strips.items(), (MASTER, self.master)):
            lv = levels.get(name)
            if lv is not None:
                strip.meter.set_levels(lv.peak, lv.rms)

    # -- internals -------------------------------------------------------------------
    def _with(self, **changes: object) -> MixState:
        d = {"strips": self.mix.strips, "master_db": self.mix.master_db, "bypass": self.mix.bypass}
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
