"""The settings dialog: devices, sample rate, latency preset, safety buffer, model folder
and its arithmetic.

It only edits an ``EngineSettings``; the main window applies it (restarting
the engine on the runner's thread, never here).
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from gui.engine_api import LATENCY_PRESETS, DeviceChoice, EngineSettings

NO_DEVICE = "(none)"
SAMPLE_RATES = (44100, 48000, 88200, 96000)


class SettingsDialog(QDialog):
    """Edit engine settings; ``settings()`` returns what the user chose."""

    def __init__(
        self,
        current: EngineSettings,
        devices: list[DeviceChoice],
        message: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("stemlive settings")
        self._current = current  # routing is edited in the routing dialog, kept here
        form = QFormLayout(self)
        if message:  # e.g. "the output device vanished: pick another"
            note = QLabel(message)
            note.setObjectName("notice")
            note.setWordWrap(True)
            form.addRow(note)

        self.input = QComboBox()
        self.output = QComboBox()
        self.input.addItem(NO_DEVICE, None)
        self.output.addItem(NO_DEVICE + " – separation runs, nothing is heard", None)
        for d in devices:
            if d.inputs > 0:
                self.input.addItem(d.label or f"{d.name} ({d.inputs} in)", d.name)
            if d.outputs > 0:
                self.output.addItem(d.label or f"{d.name} ({d.outputs} out)", d.name)
        _select(self.input, current.input_device)
        _select(self.output, current.output_device)
        if not devices:
            form.addRow(QLabel("No audio devices found (is a sound server running?)"))
        form.addRow("Input device", self.input)
        form.addRow("Output device", self.output)

        self.rate = QComboBox()
        self.rate.addItem("Device default", None)
        for r in SAMPLE_RATES:
            self.rate.addItem(f"{r} Hz", r)
        _select(self.rate, current.sample_rate)
        form.addRow("Sample rate", self.rate)

        self.latency = QComboBox()
        for p in LATENCY_PRESETS:
            self.latency.addItem(p, p)
        _select(self.latency, current.latency_preset)
        self.latency.setToolTip(
            "standard: the most robust; low-latency: smaller buffers, needs a quiet machine"
        )
        form.addRow("Latency preset", self.latency)

        self.safety = QDoubleSpinBox()
        self.safety.setRange(0.0, 500.0)
        self.safety.setSuffix(" ms")
        self.safety.setDecimals(1)
        self.safety.setValue(current.safety_ms)
        self.safety.setToolTip("Extra output buffering against worker spikes (adds latency)")
        form.addRow("Safety buffer", self.safety)

        self.model = QLineEdit(current.model_folder or "")
        self.model.setPlaceholderText("default model")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_model)
        row = QHBoxLayout()
        row.addWidget(self.model, 1)
        row.addWidget(browse)
        form.addRow("Model folder", row)

        self.arithmetic = QComboBox()
        self.arithmetic.addItem("int8 (faster)", True)
        self.arithmetic.addItem("float (exact)", False)
        _select(self.arithmetic, current.int8)
        self.arithmetic.setToolTip(
            "int8 weights run the model about 1.5x faster and score within 0.05 dB of float; "
            "float gives exactly the numbers of offline separation"
        )
        form.addRow("Model arithmetic", self.arithmetic)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Apply and restart")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model weights folder", self.model.text())
        if folder:
            self.model.setText(folder)

    def settings(self) -> EngineSettings:
        return EngineSettings(
            input_device=self.input.currentData(),
            output_device=self.output.currentData(),
            sample_rate=self.rate.currentData(),
            latency_preset=self.latency.currentData(),
            safety_ms=self.safety.value(),
            model_folder=self.model.text().strip() or None,
            stem_outputs=self._current.stem_outputs,
            monitor_mix=self._current.monitor_mix,
            int8=self.arithmetic.currentData(),
        )


def _select(combo: QComboBox, value: object) -> None:
    """Select the item holding ``value``; an unknown device is added so it is not lost."""
    i = combo.findData(value)
    if i < 0 and value is not None:
        combo.addItem(f"{value} (not found)", value)
        i = combo.count() - 1
    combo.setCurrentIndex(max(i, 0))
