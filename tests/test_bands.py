import numpy as np
import pytest

from model.bands import LAYOUTS, band_layout


@pytest.mark.parametrize(
    ("name", "k"), [("v7", 41), ("vocals", 41), ("other", 41), ("bass", 30), ("drums", 55)]
)
def test_paper_band_counts_at_44k_2048(name, k):
    assert band_layout(name, 44100, 2048).n_bands == k


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize(
    ("rate", "n_fft"),
    [
        (44100, 2048),
        (44100, 1024),
        (44100, 256),
        (48000, 2048),
        (22050, 512),
        (16000, 64),
        (96000, 4096),
    ],
)
def test_every_bin_in_exactly_one_band(name, rate, n_fft):
    lay = band_layout(name, rate, n_fft)
    covered = np.zeros(n_fft // 2 + 1, int)
    for s, w in zip(lay.starts, lay.widths, strict=True):
        assert w >= 1
        covered[s : s + w] += 1
    assert (covered == 1).all()
    assert list(lay.starts) == sorted(lay.starts)


def test_band_edges_follow_hz_not_bins():
    # At 48 kHz a 100 Hz band spans fewer bins than at 44.1 kHz of the same FFT.
    lay44 = band_layout("v7", 44100, 4096)
    lay96 = band_layout("v7", 96000, 4096)
    assert lay96.widths[0] < lay44.widths[0]
    # The first edge sits at 100 Hz, rounded to the nearest bin.
    assert lay44.widths[0] == round(100 * 4096 / 44100)


def test_unknown_layout_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown band layout"):
        band_layout("v99", 44100, 2048)
