"""Semi-supervised pipeline: the energy filter keeps exactly the right segments, and new songs
are built from what it kept plus labeled stems."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from test_train_support import SR, constructed_stems, make_corpus

from training.semisup import (
    STEMS,
    SemisupConfig,
    build_partial,
    build_songs,
    collect,
    energy_filter,
    write_corpus,
    write_partial,
)
from training.train_data import Corpus, DataConfig, PartialCorpus, make_batch, make_step


def test_energy_filter_keeps_exactly_the_right_segments():
    seg = 1000
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((2, 6 * seg))
    noise /= np.sqrt(np.mean(noise**2))  # unit power: levels below are exact
    t_gain = [1.0, 0.01, 1.0, 1.0, 1.0, 0.0]
    r_gain = [0.001, 1.0, 0.1, 0.031, 0.033, 0.0]  # dB: +60, -40, +20, +30.2, +29.6, silent
    target = np.concatenate(
        [g * noise[:, i * seg : (i + 1) * seg] for i, g in enumerate(t_gain)], 1
    )
    other = np.roll(noise, 7, axis=1)  # a different signal, same power per segment
    residual = np.concatenate(
        [g * other[:, i * seg : (i + 1) * seg] for i, g in enumerate(r_gain)], 1
    )
    kept = energy_filter(target, residual, seg, threshold_db=30.0)
    assert kept == [(0, "target"), (seg, "residual"), (3 * seg, "target")]
    assert energy_filter(target, residual, seg, threshold_db=15.0) == [
        (0, "target"),
        (seg, "residual"),
        (2 * seg, "target"),
        (3 * seg, "target"),
        (4 * seg, "target"),
    ]


def test_new_songs_are_built_from_the_kept_segments(tmp_path):
    make_corpus(tmp_path / "labeled", train=2, valid=1, test=0, seconds=3.0)
    # An unlabeled song: vocals alone for 2 s, then all four stems for 2 s, then drums alone.
    stems = constructed_stems(9, 5.0)
    mask = np.ones((4, 5))
    mask[1:, :2] = 0  # seconds 0-1: vocals only
    mask[[0, 1, 3], 4] = 0  # second 4: drums only
    for s in range(4):
        for sec in range(5):
            stems[s, :, sec * SR : (sec + 1) * SR] *= mask[s, sec]
    (tmp_path / "unlabeled").mkdir()
    sf.write(tmp_path / "unlabeled" / "a.wav", stems.sum(0).T, SR, "FLOAT")
    cfg = SemisupConfig(
        unlabeled=str(tmp_path / "unlabeled"),
        labeled=str(tmp_path / "labeled"),
        out=str(tmp_path / "out"),
        segment_seconds=1.0,
        new_songs=4,
        song_seconds=2.0,
    )
    by_file = {}

    def oracle(mix):  # a perfect separator: the filter's decisions are then known exactly
        by_file["mix"] = mix
        return stems

    pool = collect(cfg, oracle, SR, log=lambda m: None)
    counts = {s: {k: len(v) for k, v in pool[s].items()} for s in STEMS}
    assert counts["vocals"] == {"target": 2, "residual": 1}
    assert counts["drums"] == {"target": 1, "residual": 2}
    assert counts["bass"] == {"target": 0, "residual": 3}  # silent in seconds 0, 1 and 4
    for k, start in enumerate((0, SR)):
        np.testing.assert_array_equal(pool["vocals"]["target"][k], stems[0, :, start : start + SR])

    labeled = Corpus(tmp_path / "labeled", "train")
    songs = build_songs(cfg, pool, labeled, SR)
    assert [s["stem"] for s in songs] == ["vocals", "drums", "vocals", "drums"]
    for song in songs:
        i = STEMS.index(song["stem"])
        for j, seg in enumerate(song["segments"]):  # the stem is made of kept segments only
            np.testing.assert_array_equal(
                song["stems"][i][:, j * SR : (j + 1) * SR], pool[song["stem"]]["target"][seg]
            )
        for src in song["labeled_from"]:  # the others are labeled stems, as recorded
            k = STEMS.index(src["stem"])
            x = labeled.songs[labeled.names.index(src["song"])][k]
            want = x[:, src["start"] : src["start"] + 2 * SR].astype(np.float32) / 32768
            np.testing.assert_array_equal(song["stems"][k], want)
    out = write_corpus(cfg, songs, labeled.names)
    names = sorted(p.name for p in (out / "train").iterdir())
    assert names == sorted(labeled.names + [f"semisup{k:05d}" for k in range(4)])
    meta = json.loads((out / "train" / "semisup00000" / "source.json").read_text())
    assert meta["stem"] == "vocals"
    assert len(Corpus(out, "train")) == 6  # the training loader reads the new corpus

    # No-target segments: partial songs of residual runs + a labeled stem, only it known.
    partial = build_partial(cfg, pool, labeled, SR)
    assert [p["known"] for p in partial] == ["vocals", "bass", "drums", "other"]
    for p in partial:
        segs = pool[p["known"]]["residual"]
        want = np.concatenate([segs[j] for j in p["segments"]], -1)
        np.testing.assert_array_equal(p["residual"], want)
    bass = next(p for p in partial if p["known"] == "bass")
    starts = {0, SR, 4 * SR}  # bass is silent in seconds 0, 1 and 4: the residual is the mix
    mix = stems.sum(0)
    for j in range(len(bass["segments"])):
        got = bass["residual"][:, j * SR : (j + 1) * SR]
        assert any(np.array_equal(got, mix[:, s : s + SR]) for s in starts)
    write_partial(tmp_path / "partial", partial)
    pc = PartialCorpus(tmp_path / "partial")
    assert sorted(STEMS[i] for i, _, _ in pc.items) == sorted(STEMS)
    dcfg = DataConfig(
        root=str(tmp_path / "labeled"),
        segment_seconds=0.5,
        batch_size=2,
        partial_root=str(tmp_path / "partial"),
        partial_batch=3,
    )
    st, resid, known = make_step(labeled, pc, dcfg, 0)
    assert st.shape[0] == resid.shape[0] == known.shape[0] == 5
    np.testing.assert_array_equal(known[:2], 1.0)
    np.testing.assert_array_equal(known[2:].sum(1), 1.0)  # one known stem per partial item
    np.testing.assert_array_equal(resid[:2], 0.0)
    for i in range(2, 5):  # unknown stems carry nothing: the residual holds them
        s = int(np.argmax(known[i]))
        assert np.all(np.delete(st[i], s, axis=0) == 0) and np.abs(resid[i]).max() > 0
    np.testing.assert_array_equal(st[:2], make_batch(labeled, dcfg, 0))  # main stream unchanged


def test_masked_loss_ignores_unknown_stems():
    import torch

    from model.stft import CausalSTFT
    from training.losses import LossConfig, SeparationLoss

    stft = CausalSTFT(256, 64)
    loss = SeparationLoss(LossConfig(mrstft_ffts=(128,)), stft)
    target = torch.randn(2, 4, 2048)
    est = target + 0.1 * torch.randn(2, 4, 2048)
    known = torch.tensor([[1.0, 1, 1, 1], [0, 1, 0, 0]])
    a, _ = loss(stft.analyse(est), est, target, known)
    est2 = est.clone()
    est2[1, [0, 2, 3]] += 5.0  # wildly wrong, but unknown
    b, _ = loss(stft.analyse(est2), est2, target, known)
    assert torch.allclose(a, b)
    est2[1, 1] += 1.0  # the known stem does count
    c, _ = loss(stft.analyse(est2), est2, target, known)
    assert c > a


def test_the_whole_pipeline_reports_before_and_after(tmp_path):
    import torch

    from model.bsrnn import BSRNN
    from model.config import ModelConfig
    from model.weights import save_model
    from training.semisup import run_semisup

    make_corpus(tmp_path / "labeled", train=2, valid=1, test=1, seconds=1.0)
    # A constructed model P that calls everything vocals (mask 1 for vocals, 0 for the rest):
    # its vocals are then "target alone" everywhere and the filter's output is known.
    torch.manual_seed(0)
    p = BSRNN(ModelConfig.preset("tiny"))
    with torch.no_grad():
        for w2, b2 in zip(p.heads.w2, p.heads.b2, strict=True):
            w2.zero_()
            b = b2.view(4, -1, 1, b2.shape[-1] // 4, 2, 2)
            b.zero_()
            b[0, ..., 0, 0] = 2.0  # GLU: 2 * sigmoid(0) = 1
    save_model(p, tmp_path / "p")
    cfg = SemisupConfig(
        unlabeled=str(tmp_path / "labeled" / "test"),
        labeled=str(tmp_path / "labeled"),
        out=str(tmp_path / "out"),
        weights=str(tmp_path / "p"),
        new_songs=2,
        song_seconds=0.5,
        segment_seconds=0.25,
        labeled_songs=1,
    )
    valid = f"{tmp_path / 'labeled'}:valid"
    rep = run_semisup(
        cfg, steps=2, run_dir=tmp_path / "run", log=lambda m: None, control=True,
        score=(valid,), carry=2,
    )  # fmt: skip
    assert rep["new_songs"] == 2 and rep["partial_songs"] == 2
    assert rep["kept"]["vocals"] == {"target": 4, "residual": 0}  # 1 s in 0.25 s segments
    assert rep["kept"]["bass"] == {"target": 0, "residual": 4}
    assert set(rep["before"]) == set(rep["after"]) == set(STEMS)
    assert rep["before"]["vocals"]["sdr"] != rep["after"]["vocals"]["sdr"]  # it did train
    assert (tmp_path / "run" / "semisup_report.json").is_file()
    # only the first labeled song is linked; the control fine-tunes on that song alone
    linked = sorted(p.name for p in (tmp_path / "out" / "train").iterdir() if p.is_symlink())
    assert linked == ["song0"]
    control = json.loads((tmp_path / "run" / "control" / "config.json").read_text())
    assert control["data"]["root"] == cfg.labeled and control["data"]["max_songs"] == 1
    assert control["data"]["partial_batch"] == 0
    assert control["data"]["batch_size"] == 6  # as many items per step as the semisup run
    assert control["data"]["carry_segments"] == 2
    run = json.loads((tmp_path / "run" / "config.json").read_text())["data"]
    assert run["carry_segments"] == 2 and run["partial_batch"] == 2  # partial items, carried
    assert set(rep["sets"]) == {f"{cfg.labeled}:test", valid}
    assert set(rep["sets"][valid]) == {"before", "after", "control"}
    assert set(rep["control"]) == set(STEMS)
    assert rep["control"]["vocals"]["sdr"] != rep["after"]["vocals"]["sdr"]


def test_sigterm_during_fine_tuning_stops_the_pipeline(tmp_path, tiny_weights):
    import os
    import signal

    from training.semisup import run_semisup

    make_corpus(tmp_path / "labeled", train=2, valid=1, test=1, seconds=1.0)
    cfg = SemisupConfig(
        unlabeled=str(tmp_path / "labeled" / "test"),
        labeled=str(tmp_path / "labeled"),
        out=str(tmp_path / "out"),
        weights=str(tiny_weights),
        new_songs=1,
        song_seconds=0.5,
        segment_seconds=0.25,
    )

    def log(msg: str) -> None:
        if msg.startswith("step 10 "):
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(KeyboardInterrupt):
        run_semisup(cfg, steps=50, run_dir=tmp_path / "run", log=log, control=True)
    assert not (tmp_path / "run" / "control").exists()
    assert not (tmp_path / "run" / "semisup_report.json").exists()
