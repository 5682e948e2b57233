"""Scrolling spectrogram waterfalls (input and each stem) on a log-frequency axis.

The engine hands over linear-frequency columns in dB; this view maps them onto
log-spaced rows once per column (a precomputed ``maximum.reduceat``), keeps a
history image per source and shows it with a fixed dB colour scale, so a quiet
stem looks quiet rather than being normalised up.

Axes: ``k`` source, ``t`` column (time), ``f`` linear bin, ``r`` log row.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.theme import BACKGROUND, DIM_TEXT, stem_colour

FREQ_TICKS = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)


def log_rows(freqs: np.ndarray, n_rows: int, f_lo: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Row edges (Hz, n_rows+1) spaced evenly in log frequency, and each row's first bin.

    Rows narrower than a bin reuse the bin below them, so low notes fill
    several rows instead of leaving gaps.
    """
    f_hi = float(freqs[-1])
    edges = np.geomspace(f_lo, f_hi, n_rows + 1)
    starts = np.searchsorted(freqs, edges[:-1], side="right") - 1
    return edges, np.clip(starts, 0, len(freqs) - 1)


def format_hz(f: float) -> str:
    return f"{f / 1000:g}k" if f >= 1000 else f"{f:g}"


class SpectrogramView(QWidget):
    """Waterfalls of several sources, stacked or one large; ``push(snapshot)`` on each frame."""

    def __init__(
        self,
        sources: tuple[str, ...],
        history_s: float = 6.0,
        n_rows: int = 160,
        db_range: tuple[float, float] = (-90.0, -10.0),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.sources = tuple(sources)
        self.history_s = history_s
        self.n_rows = n_rows
        self.db_range = db_range
        self.single: str | None = None  # None: all stacked
        self._last_count = 0
        self._freqs: np.ndarray | None = None
        self._starts: np.ndarray | None = None
        self._n_cols = 0
        self._images: dict[str, np.ndarray] = {}
        self.columns_drawn = 0  # for tests and diagnostics

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground(BACKGROUND)
        self.canvas.ci.setSpacing(2)
        lay.addWidget(self.canvas)

        cmap = pg.colormap.get("inferno")
        self._lut = cmap.getLookupTable(0.0, 1.0, 256)
        self.plots: dict[str, pg.PlotItem] = {}
        self.items: dict[str, pg.ImageItem] = {}
        for i, name in enumerate(self.sources):
            plot = pg.PlotItem()
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(False, False)
            plot.hideButtons()
            plot.setTitle(
                f"<span style='color:{stem_colour(name, i).name()}'>{name.capitalize()}</span>",
                size="9pt",
            )
            img = pg.ImageItem(axisOrder="col-major")
            img.setLookupTable(self._lut)
            img.setLevels(self.db_range)
            plot.addItem(img)
            left = plot.getAxis("left")
            left.setWidth(38)
            left.setTextPen(DIM_TEXT)
            left.setPen(DIM_TEXT)
            bottom = plot.getAxis("bottom")
            bottom.setTextPen(DIM_TEXT)
            bottom.setPen(DIM_TEXT)
            plot.getViewBox().setDefaultPadding(0.0)
            self.plots[name] = plot
            self.items[name] = img
        self._layout_plots()

    def colour_scale(self) -> QWidget:
        """A small legend of the fixed dB colour scale."""
        stops = ", ".join(
            f"stop:{i / 8:.3f} rgb({r},{g},{b})"
            for i, (r, g, b, *_) in enumerate(self._lut[:: len(self._lut) // 8][:9])
        )
        box = QWidget()
        lay = QHBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lo, hi = self.db_range
        bar = QLabel()
        bar.setFixedSize(120, 10)
        bar.setStyleSheet(
            f"background: qlineargradient(x1:0, y1:0, x2:1, y2:0, {stops}); border-radius: 2px;"
        )
        low, high = QLabel(f"{lo:g}"), QLabel(f"{hi:g} dBFS")
        for w in (low, high):
            w.setObjectName("dim")
        for w in (low, bar, high):
            lay.addWidget(w)
        box.setToolTip("Fixed colour scale: a quiet stem looks quiet")
        return box

    # -- layout ------------------------------------------------------------------
    def set_single(self, source: str | None) -> None:
        """Show one source large, or ``None`` for all stacked."""
        if source is not None and source not in self.plots:
            raise ValueError(f"no spectrogram named {source!r}; have {', '.join(self.sources)}")
        self.single = source
        self._layout_plots()

    def _layout_plots(self) -> None:
        ci = self.canvas.ci
        for plot in self.plots.values():
            if plot.scene() is not None:
                ci.removeItem(plot)
        shown = [self.single] if self.single else list(self.sources)
        for row, name in enumerate(shown):
            plot = self.plots[name]
            ci.addItem(plot, row=row, col=0)
            plot.showAxis("bottom", row == len(shown) - 1)
        if shown:
            self.plots[shown[-1]].setLabel("bottom", "seconds", color=DIM_TEXT)

    def visible_sources(self) -> list[str]:
        return [self.single] if self.single else list(self.sources)

    # -- data --------------------------------------------------------------------
    def _prepare(self, freqs: np.ndarray, column_seconds: float) -> None:
        """Set up row mapping, history images and axes for this bin layout and column rate."""
        self._freqs = np.asarray(freqs, np.float64)
        edges, self._starts = log_rows(self._freqs, self.n_rows)
        self._n_cols = max(8, int(round(self.history_s / max(column_seconds, 1e-4))))
        floor = self.db_range[0]
        self._images = {
            s: np.full((self._n_cols, self.n_rows), floor, np.float32) for s in self.sources
        }
        log_edges = np.log10(edges)
        ticks = [
            (float(np.interp(np.log10(f), log_edges, np.arange(self.n_rows + 1))), format_hz(f))
            for f in FREQ_TICKS
            if edges[0] <= f <= edges[-1]
        ]
        # Decades always labelled; the rest only where the plot is tall enough.
        major = [t for t in ticks if t[1] in ("100", "1k", "10k")]
        minor = [t for t in ticks if t not in major]
        span = self._n_cols * column_seconds
        for name in self.sources:
            # The rect maps image pixels to axes: it needs an image of the final size first.
            self.items[name].setImage(self._images[name], autoLevels=False, levels=self.db_range)
            self.items[name].setRect(QRectF(-span, 0.0, span, float(self.n_rows)))
            self.plots[name].setXRange(-span, 0.0, padding=0.0)
            self.plots[name].setYRange(0.0, float(self.n_rows), padding=0.0)
            self.plots[name].getAxis("left").setTicks([major, minor])

    def reset(self) -> None:
        """Forget what was drawn (the engine restarted: its column count starts over)."""
        self._last_count = 0
        for img in self._images.values():
            img.fill(self.db_range[0])

    def push(
        self,
        columns: np.ndarray | None,
        sources: tuple[str, ...],
        count: int,
        freqs: np.ndarray | None,
        column_seconds: float,
    ) -> int:
        """Append the columns not yet drawn; returns how many were new.

        ``columns`` is (k, t, f) dB, the engine's latest ``t`` columns, oldest
        first; ``count`` is how many columns it has produced so far.
        """
        if columns is None or freqs is None or count == 0:
            return 0
        if self._freqs is None or len(freqs) != len(self._freqs):
            self._prepare(freqs, column_seconds)
        if count < self._last_count:  # the engine restarted
            self.reset()
        new = min(count - self._last_count, columns.shape[1], self._n_cols)
        self._last_count = count
        if new <= 0:
            return 0
        for k, name in enumerate(sources):
            img = self._images.get(name)
            if img is None:
                continue
            fresh = columns[k, -new:, :]  # t f
            rows = np.maximum.reduceat(fresh, self._starts, axis=1)  # t r
            img[:-new] = img[new:]
            img[-new:] = rows
        for name in self.visible_sources():
            self.items[name].setImage(self._images[name], autoLevels=False, levels=self.db_range)
        self.columns_drawn += new
        return new

    def image(self, source: str) -> np.ndarray:
        """The history image (t, r) in dB of one source, for tests."""
        return self._images[source]
