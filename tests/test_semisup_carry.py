"""Semi-supervised (partial) items with carried segments: the same windows, cut like the
main batch, with the right known stems, and an exact resume."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_real_vocals import corpus, mir1k  # noqa: F401 (fixtures)
from test_train import quiet, tiny_config
from test_train_support import SR, constructed_stems, make_corpus

from training.semisup import write_partial
from training.train import Trainer, digest, to_items
from training.train_data import (
    DataConfig,
    PartialCorpus,
    _draw_partial,
    make_batch,
    make_partial,
    make_step,
)


@pytest.fixture(scope="module")
def partial_root(tmp_path_factory):
    """Two partial songs of 2 s: known vocals, and known drums, each over a residual."""
    root = tmp_path_factory.mktemp("partial")
    stems = constructed_stems(5, 2.0)
    songs = [
        {"known": "vocals", "stem": stems[0], "residual": stems[1:].sum(0), "segments": []},
        {"known": "drums", "stem": stems[2], "residual": stems[[0, 1, 3]].sum(0), "segments": []},
    ]
    write_partial(root, songs)
    return root


def test_partial_items_are_cut_from_one_window_per_k_steps(tmp_path, partial_root):
    make_corpus(tmp_path)
    from training.train_data import Corpus

    labeled = Corpus(tmp_path, "train")
    pc = PartialCorpus(partial_root)
    cfg = DataConfig(root=str(tmp_path), segment_seconds=0.25, batch_size=2, carry_segments=3,
                     partial_root=str(partial_root), partial_batch=3)  # fmt: skip
    n = SR // 4
    steps = [make_step(labeled, pc, cfg, s) for s in range(3, 9)]
    window = _draw_partial(pc, cfg, [cfg.seed, 1, 3, 1], 3)  # steps 3, 4, 5
    for j, (st, resid, known) in enumerate(steps[:3]):
        assert st.shape == (5, 4, 2, n) and resid.shape == (5, 2, n) and known.shape == (5, 4)
        np.testing.assert_array_equal(st[:2], make_batch(labeled, cfg, 3 + j))  # main unchanged
        np.testing.assert_array_equal(st[2:], window[0][..., j * n : (j + 1) * n])
        np.testing.assert_array_equal(resid[2:], window[1][..., j * n : (j + 1) * n])
        np.testing.assert_array_equal(resid[:2], 0.0)
        np.testing.assert_array_equal(known[:2], 1.0)
        np.testing.assert_array_equal(known[2:], window[2])
    # one known stem per partial item, the one its song says, and only that stem sounds
    assert set(np.flatnonzero(window[2].sum(0))) <= {0, 2}
    np.testing.assert_array_equal(window[2].sum(1), 1.0)
    for i in range(3):
        s = int(np.argmax(window[2][i]))
        assert not np.delete(window[0][i], s, axis=0).any() and np.abs(window[0][i, s]).max() > 0
    # scaled as a whole: one gain per item over the window, never clipping
    assert np.abs(window[0].sum(1) + window[1]).max() <= 0.99 + 1e-6
    # the next window is another draw; the same step is the same batch again
    assert not np.array_equal(steps[3][0][2:], window[0][..., :n])
    again = make_partial(pc, cfg, 4)
    np.testing.assert_array_equal(again[0], steps[1][0][2:])
    # carry 1 keeps the old stream (runs made before carried partial items resume alike)
    one = replace(cfg, carry_segments=1)
    np.testing.assert_array_equal(
        make_partial(pc, one, 4)[0], _draw_partial(pc, one, [cfg.seed, 4, 1], 1)[0]
    )


def test_partial_items_join_a_real_vocal_batch_with_carry(corpus, mir1k, partial_root):  # noqa: F811
    """With vocal_root the main batch is itself (stems, residual, known): both kinds join."""
    pc = PartialCorpus(partial_root)
    cfg = DataConfig(root="", segment_seconds=0.25, batch_size=2, vocal_root=str(mir1k),
                     p_real_backing=0.5, carry_segments=2, partial_root=str(partial_root),
                     partial_batch=2)  # fmt: skip
    a, b = make_step(corpus, pc, cfg, 0), make_step(corpus, pc, cfg, 1)
    for st, resid, known in (a, b):
        main = make_batch(corpus, cfg, 0)
        assert st.shape[0] == resid.shape[0] == known.shape[0] == 4
        np.testing.assert_array_equal(known[:2], main[2])
        np.testing.assert_array_equal(known[2:].sum(1), 1.0)
    assert np.array_equal(a[2], b[2])  # the same items over the window


def test_training_with_partial_items_and_carry_resumes_exactly(tmp_path, partial_root):
    make_corpus(tmp_path / "data")
    base = tiny_config(tmp_path / "data")
    cfg = replace(base, data=replace(base.data, carry_segments=2, partial_root=str(partial_root),
                                     partial_batch=1))  # fmt: skip
    tr = Trainer(replace(cfg, max_steps=3), tmp_path / "a", log=quiet)
    tr.run()
    # the carried state covers both kinds of item: (2 songs + 1 partial) x 2 channels
    shapes = [(h.shape, c.shape) for h, c in tr.model.init_state(6)]
    assert [(h.shape, c.shape) for h, c in tr.carry] == shapes
    mix0 = to_items(make_step(tr.train_corpus, PartialCorpus(partial_root), cfg.data, 2))[0]
    assert mix0.shape[0] == 6
    resumed = Trainer(replace(cfg, max_steps=5), tmp_path / "a", log=quiet)
    assert resumed.step == 3 and resumed.carry is not None
    resumed.run()
    straight = Trainer(replace(cfg, max_steps=5), tmp_path / "b", log=quiet)
    straight.run()
    assert digest(resumed.weights) == digest(straight.weights)
    other = Trainer(replace(cfg, max_steps=5, data=replace(cfg.data, partial_batch=0)),
                    tmp_path / "c", log=quiet)  # fmt: skip
    other.run()
    assert digest(other.weights) != digest(straight.weights)  # the partial items did count


def test_partial_vocal_items_get_real_voices_over_their_residual(mir1k, partial_root):  # noqa: F811
    """With vocal_root, a partial item that knows its vocals hears a real voice (as often as
    the main batch does) over its untouched real residual; other known stems stay."""
    pc = PartialCorpus(partial_root)
    plain = DataConfig(root="", segment_seconds=0.25, partial_root=str(partial_root),
                       partial_batch=8)  # fmt: skip
    real = replace(plain, vocal_root=str(mir1k), p_real_vocal=1.0)
    a = _draw_partial(pc, plain, [0, 5, 1, 1], 1)
    b = _draw_partial(pc, real, [0, 5, 1, 1], 1)
    np.testing.assert_array_equal(a[2], b[2])  # the same items, the same known stems
    vocal_items = np.flatnonzero(a[2][:, 0])
    assert 0 < len(vocal_items) < 8
    for i in range(8):
        # the residual is the same audio (each item is scaled as a whole)
        ratio = np.abs(b[1][i]).max() / np.abs(a[1][i]).max()
        np.testing.assert_allclose(b[1][i], a[1][i] * ratio, atol=1e-6)
        if i in vocal_items:
            va, vb = a[0][i, 0].ravel(), b[0][i, 0].ravel()
            assert np.abs(vb).max() > 0
            assert abs(np.corrcoef(va, vb)[0, 1]) < 0.5  # another voice
            assert not b[0][i, 1:].any()
        else:
            np.testing.assert_allclose(b[0][i], a[0][i] * ratio, atol=1e-6)
    assert np.abs(b[0].sum(1) + b[1]).max() <= 0.99 + 1e-6
