"""Effects in the mixer: a chain list under each strip, a parameter editor, a key control.

The widgets only show and emit; the mixer panel keeps the chains in its
``MixState`` and the main window forwards changes to the engine: a new
structure (add, remove, reorder) restarts the stream, a parameter or bypass
change is queued to the worker.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from realtime.fx import BUILTINS, SlotSpec, plugin_info, vst3_bundles

SLIDER_STEPS = 1000


class FxSection(QFrame):
    """One target's chain (a stem or the master): list, add, remove, reorder, bypass.

    Emits ``chain_changed(target, slots)`` with the new tuple of SlotSpec and
    ``selected(target, index)`` when a slot is chosen for the editor.
    """

    chain_changed = Signal(str, object)
    selected = Signal(str, int)

    def __init__(self, target: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.target = target
        self.slots: tuple[SlotSpec, ...] = ()
        self.setObjectName("fx")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 2, 0, 0)
        lay.setSpacing(2)
        title = QLabel("FX")
        title.setObjectName("dim")
        lay.addWidget(title)
        self.list = QListWidget()
        self.list.setObjectName(f"fx_{target}")
        self.list.setFixedHeight(64)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setToolTip(f"{target} effects, in order; untick to bypass; click to edit")
        lay.addWidget(self.list)
        row = QHBoxLayout()
        row.setSpacing(1)
        self.add = QToolButton(text="+")
        self.add.setToolTip("Add an effect")
        self.add.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.add)
        for name in BUILTINS:
            menu.addAction(name, lambda n=name: self.add_slot(n))
        vst = menu.addMenu("VST3")
        for path in vst3_bundles():
            vst.addAction(path.stem, lambda p=str(path): self.add_slot(p))
        self.add.setMenu(menu)
        self.add.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        self.remove = QToolButton(text="–")
        self.up = QToolButton(text="↑")
        self.down = QToolButton(text="↓")
        for b, tip in ((self.remove, "Remove"), (self.up, "Move up"), (self.down, "Move down")):
            b.setToolTip(tip)
        for b in (self.add, self.remove, self.up, self.down):
            b.setFixedWidth(21)
            row.addWidget(b)
        lay.addLayout(row)
        self.remove.clicked.connect(self._remove)
        self.up.clicked.connect(lambda: self._move(-1))
        self.down.clicked.connect(lambda: self._move(1))
        self.list.itemChanged.connect(self._on_item)
        self.list.currentRowChanged.connect(
            lambda i: self.selected.emit(self.target, i) if i >= 0 else None
        )

    def set_slots(self, slots: tuple[SlotSpec, ...]) -> None:
        """Show a chain without emitting ``chain_changed``."""
        self.slots = tuple(slots)
        row = self.list.currentRow()
        self.list.blockSignals(True)
        self.list.clear()
        for s in self.slots:
            item = QListWidgetItem(plugin_info(s.plugin).label)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if s.bypass else Qt.CheckState.Checked)
            self.list.addItem(item)
        self.list.setCurrentRow(min(row, len(self.slots) - 1))
        self.list.blockSignals(False)

    def add_slot(self, plugin: str) -> None:
        self._emit((*self.slots, SlotSpec(plugin)))
        self.list.setCurrentRow(len(self.slots) - 1)

    def _remove(self) -> None:
        i = self.list.currentRow()
        if 0 <= i < len(self.slots):
            self._emit(self.slots[:i] + self.slots[i + 1 :])

    def _move(self, step: int) -> None:
        i, j = self.list.currentRow(), self.list.currentRow() + step
        if 0 <= i < len(self.slots) and 0 <= j < len(self.slots):
            s = list(self.slots)
            s[i], s[j] = s[j], s[i]
            self._emit(tuple(s))
            self.list.setCurrentRow(j)

    def _on_item(self, item: QListWidgetItem) -> None:
        i = self.list.row(item)
        bypass = item.checkState() != Qt.CheckState.Checked
        s = list(self.slots)
        s[i] = SlotSpec(s[i].plugin, s[i].params, bypass)
        self._emit(tuple(s))

    def _emit(self, slots: tuple[SlotSpec, ...]) -> None:
        self.set_slots(slots)
        self.chain_changed.emit(self.target, self.slots)


class ParamEditor(QFrame):
    """Sliders for one slot's parameters, built from the plugin's list (name, range, unit)."""

    param_changed = Signal(str, int, str, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("strip")
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(6, 4, 6, 4)
        self.title = QLabel("Effect parameters: choose an effect in a strip's FX list")
        self.title.setObjectName("dim")
        self._lay.addWidget(self.title)
        self._grid_host = QWidget()
        self._lay.addWidget(self._grid_host)
        self.sliders: dict[str, QSlider] = {}
        self._readouts: dict[str, QLabel] = {}
        self._params: tuple = ()
        self.target, self.index = "", -1

    def main_slider(self) -> QSlider | None:
        """The slider of the slot's main parameter (the one MIDI maps), if a slot is shown."""
        return self.sliders.get(self._params[0].name) if self._params else None

    def set_value(self, name: str, value: float) -> None:
        """Show a value set from elsewhere (MIDI) without emitting ``param_changed``."""
        p = next((p for p in self._params if p.name == name), None)
        if p is None:
            return
        span = (p.maximum - p.minimum) or 1.0
        slider = self.sliders[name]
        slider.blockSignals(True)
        slider.setValue(round((value - p.minimum) / span * SLIDER_STEPS))
        slider.blockSignals(False)
        self._readouts[name].setText(_fmt(value, p.unit))

    def show_slot(self, target: str, index: int, slot: SlotSpec | None) -> None:
        self.target, self.index = target, index
        self._grid_host.deleteLater()
        self._grid_host = QWidget()
        grid = QGridLayout(self._grid_host)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(1)
        self._lay.addWidget(self._grid_host)
        self.sliders, self._readouts, self._params = {}, {}, ()
        if slot is None:
            self.title.setText("Effect parameters: choose an effect in a strip's FX list")
            return
        info = plugin_info(slot.plugin)
        self.title.setText(f"{target.capitalize()} · slot {index + 1}: {info.label}")
        self._params = info.params
        for r, p in enumerate(info.params):
            value = slot.params.get(p.name, p.default)
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setObjectName(f"param_{p.name}")
            slider.setRange(0, SLIDER_STEPS)
            span = (p.maximum - p.minimum) or 1.0
            slider.setValue(round((value - p.minimum) / span * SLIDER_STEPS))
            readout = QLabel(_fmt(value, p.unit))
            readout.setMinimumWidth(70)
            grid.addWidget(QLabel(p.name), r, 0)
            grid.addWidget(QLabel(f"{p.minimum:g}"), r, 1)
            grid.addWidget(slider, r, 2)
            grid.addWidget(QLabel(f"{p.maximum:g} {p.unit}".strip()), r, 3)
            grid.addWidget(readout, r, 4)

            def moved(v: int, p=p, readout=readout) -> None:
                x = p.minimum + (p.maximum - p.minimum) * v / SLIDER_STEPS
                readout.setText(_fmt(x, p.unit))
                self.param_changed.emit(self.target, self.index, p.name, float(x))

            slider.valueChanged.connect(moved)
            self.sliders[p.name] = slider
            self._readouts[p.name] = readout
        grid.setColumnStretch(2, 1)


def _fmt(x: float, unit: str) -> str:
    return f"{x:.3g} {unit}".strip()
