"""Band layouts of Band-Split RNN, computed from Hz for any sample rate and FFT size.

A layout is a list of segments ``(width_hz, up_to_hz)``: bands of ``width_hz``
from the end of the previous segment up to ``up_to_hz``; one last band takes
everything above. Edges are rounded to bins; bands that round to nothing are
dropped, so every bin of ``n_fft // 2 + 1`` lies in exactly one band.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Widths in Hz at 44.1 kHz, from Luo & Yu (2023), Table/ablation "V7" and its kin.
LAYOUTS: dict[str, tuple[tuple[float, float], ...]] = {
    "v7": ((100, 1000), (250, 4000), (500, 8000), (1000, 16000), (2000, 20000)),
    "bass": ((50, 500), (100, 1000), (500, 4000), (1000, 8000), (2000, 16000)),
    "drums": ((50, 1000), (100, 2000), (250, 4000), (500, 8000), (1000, 16000)),
}
LAYOUTS["vocals"] = LAYOUTS["v7"]
LAYOUTS["other"] = LAYOUTS["v7"]


@dataclass(frozen=True)
class BandLayout:
    """Bands as bin ranges ``[starts[k], starts[k] + widths[k])``, plus the segment of each band.

    The segment index groups bands of (nearly) equal width, which the model uses
    to batch its per-band layers.
    """

    starts: tuple[int, ...]
    widths: tuple[int, ...]
    segments: tuple[int, ...]
    n_bins: int

    @property
    def n_bands(self) -> int:
        return len(self.starts)

    def groups(self) -> list[list[int]]:
        """Band indices per segment, in frequency order."""
        out: dict[int, list[int]] = {}
        for k, s in enumerate(self.segments):
            out.setdefault(s, []).append(k)
        return [out[s] for s in sorted(out)]


def band_layout(name: str, sample_rate: int, n_fft: int) -> BandLayout:
    """Compute the named layout (``v7``, ``vocals``, ``bass``, ``drums``, ``other``) in bins."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown band layout {name!r}; choose one of {sorted(LAYOUTS)}")
    if sample_rate <= 0 or n_fft < 2:
        raise ValueError(f"need a positive sample rate and n_fft >= 2, got {sample_rate}, {n_fft}")
    n_bins = n_fft // 2 + 1
    nyquist = sample_rate / 2
    edges_hz: list[float] = [0.0]
    seg_of_band: list[int] = []
    for seg, (width, up_to) in enumerate(LAYOUTS[name]):
        while edges_hz[-1] + width <= min(up_to, nyquist) + 1e-9:
            edges_hz.append(edges_hz[-1] + width)
            seg_of_band.append(seg)
    last_seg = len(LAYOUTS[name])
    edges = [int(round(hz * n_fft / sample_rate)) for hz in edges_hz]
    edges = [min(e, n_bins) for e in edges]
    starts, widths, segments = [], [], []
    for k in range(len(edges) - 1):
        if edges[k + 1] > edges[k]:
            starts.append(edges[k])
            widths.append(edges[k + 1] - edges[k])
            segments.append(seg_of_band[k])
    top = starts[-1] + widths[-1] if starts else 0
    if top < n_bins:  # the rest: everything above the last edge
        starts.append(top)
        widths.append(n_bins - top)
        segments.append(last_seg)
    layout = BandLayout(tuple(starts), tuple(widths), tuple(segments), n_bins)
    covered = np.zeros(n_bins, dtype=int)
    for s, w in zip(layout.starts, layout.widths, strict=True):
        covered[s : s + w] += 1
    assert (covered == 1).all(), "band layout must cover every bin exactly once"
    return layout
