"""Resume from a compact (committed) checkpoint continues the same learning curve."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_train import quiet, tiny_config
from test_train_support import SR, constructed_stems, make_corpus

from model.errors import StemliveError
from model.weights import load_model
from training.checkpoint import load_compact
from training.train import Trainer, validate, validation_fingerprint, validation_set
from training.train_data import Corpus

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "training" / "checkpoints" / "rv1"
MIR1K = REPO.parent / "shared" / "data" / "mir1k"  # beside the repository, read-only


def test_resume_from_a_compact_checkpoint_continues_the_curve(tmp_path):
    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", valid_every=2, valid_songs=1, valid_seconds=1)
    first = Trainer(replace(cfg, max_steps=4), tmp_path / "a", log=quiet)
    first.run()
    resumed = Trainer(
        replace(cfg, max_steps=6), tmp_path / "b", resume_from=tmp_path / "a" / "best", log=quiet
    )
    assert resumed.step == 4 and resumed.curve == first.curve
    # fp16 weights: the resumed model scores what the curve says, to a few hundredths of a dB
    again = validate(resumed.model, resumed.valid)
    for s in ("vocals", "bass", "drums", "other"):
        assert abs(again[s] - first.curve[-1][f"sdr_{s}"]) < 0.05
    resumed.run()
    assert [r["step"] for r in resumed.curve] == [2, 4, 6]
    assert resumed.curve[-1]["train_minutes"] > first.curve[-1]["train_minutes"]


def test_the_committed_checkpoint_scores_its_last_curve_point():
    """The committed weights reproduce the validation SDR their curve ends with."""
    model, state = load_compact(COMMITTED)
    root = Path(state["config"].get("valid_root") or state["config"]["data"]["root"])
    root = root if root.is_absolute() else REPO / root
    if not (root / "valid").is_dir():  # a fresh machine: make the validation songs
        # The committed run chose its checkpoints on the unseen-source split: MuseScore
        # SoundFont songs with held-out MIR-1K singers (training/unseen.py).
        from training.real_vocals import prepare_mir1k
        from training.unseen import build_unseen

        mir1k = REPO / "data" / "mir1k"
        prepare_mir1k(MIR1K, mir1k, log=quiet, splits=("valid",))
        build_unseen(root, mir1k, log=quiet, splits=("valid",))
    from training.train import TrainConfig

    cfg = TrainConfig.from_dict(state["config"])
    songs = validation_set(cfg, Corpus(root, "valid"))
    # Same seeds do not mean same songs: a changed generator makes other audio under the
    # same names, and then no SDR of the curve can be reproduced.
    assert validation_fingerprint(songs) == state.get("valid_fingerprint"), (
        f"the validation songs in {root}/valid are not those the committed curve was measured "
        "on (another generator version or environment?): resume the run on them to re-measure"
    )
    scores = validate(model, songs)
    last = state["curve"][-1]
    assert last["step"] == state["step"]
    assert last["valid_set"] == state["valid_fingerprint"]
    for s in ("vocals", "bass", "drums", "other"):
        assert abs(scores[s] - last[f"sdr_{s}"]) < 0.1, (s, scores[s], last[f"sdr_{s}"])
    gain = state["baselines"]["gain_only"]
    assert np.mean([scores[s] - gain[s] for s in gain if s != "mean"]) > 1.0


def test_resume_on_other_validation_songs_re_measures_the_curve(tmp_path):
    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", valid_every=2, valid_songs=1, valid_seconds=1)
    first = Trainer(replace(cfg, max_steps=2), tmp_path / "a", log=quiet)
    first.run()
    assert first.curve[-1]["valid_set"] == first.valid_fingerprint
    # the same song name, other audio (as from a changed generator)
    other = constructed_stems(7, 2.0)
    for name, x in zip(("vocals", "bass", "drums", "other"), other, strict=True):
        sf.write(tmp_path / "data" / "valid" / "song0" / f"{name}.wav", x.T, SR, "PCM_16")
    resumed = Trainer(cfg, tmp_path / "b", resume_from=tmp_path / "a" / "best", log=quiet)
    assert resumed.valid_fingerprint != first.valid_fingerprint
    assert [r["step"] for r in resumed.curve] == [2, 2]
    again = resumed.curve[-1]
    assert again["valid_set"] == resumed.valid_fingerprint
    assert again["sdr_mean"] != first.curve[-1]["sdr_mean"]
    assert resumed.best == again["sdr_mean"]
    assert abs(validate(resumed.model, resumed.valid)["mean"] - again["sdr_mean"]) < 1e-9


def test_resume_with_a_new_learning_rate_uses_it(tmp_path):
    from training.train import lr_factor

    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", max_steps=3)
    Trainer(cfg, tmp_path / "a", log=quiet).run()
    slower = replace(cfg, lr=1e-4, max_steps=4)
    tr = Trainer(slower, tmp_path / "a", log=quiet)
    assert tr.step == 3
    assert tr.optimizer.param_groups[0]["lr"] == 1e-4 * lr_factor(slower, 3)
    tr.run()
    assert tr.scheduler.get_last_lr()[0] == 1e-4 * lr_factor(slower, 4)


def test_a_warm_start_takes_the_trunk_of_another_fft_size(tmp_path):
    """--init from a model of other FFT sizes copies the tensors of matching shape only."""
    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", valid_every=1, valid_songs=1, valid_seconds=1)
    Trainer(replace(cfg, max_steps=2), tmp_path / "a", log=quiet).run()
    other = replace(cfg.model, n_fft=cfg.model.n_fft * 2, hop=cfg.model.hop * 2)
    messages: list[str] = []
    warm = Trainer(
        replace(cfg, model=other),
        tmp_path / "b",
        init_weights=tmp_path / "a" / "best",
        log=messages.append,
    )
    src = load_model(tmp_path / "a" / "best")[0].state_dict()  # as stored (fp16)
    dst = warm.model.state_dict()
    same = [k for k in dst if k in src and src[k].shape == dst[k].shape]
    differ = [k for k in dst if k not in same]
    assert any(k.startswith("blocks.") for k in same) and differ
    for k in same:
        assert torch.equal(dst[k], src[k]), k
    fresh = Trainer(replace(cfg, model=other), tmp_path / "c", log=quiet).model.state_dict()
    for k in differ:  # left as a fresh run initialises them
        assert torch.equal(dst[k], fresh[k]), k
    assert any("warm start" in m for m in messages)


def test_a_warm_start_with_nothing_in_common_is_refused(tmp_path):
    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", valid_every=1, valid_songs=1, valid_seconds=1)
    Trainer(replace(cfg, max_steps=1), tmp_path / "a", log=quiet).run()
    wider = replace(
        cfg.model, n_fft=512, hop=128, n_features=10, time_hidden=14, band_hidden=6, head_hidden=5
    )
    with pytest.raises(StemliveError, match="no tensor matches"):
        Trainer(replace(cfg, model=wider), tmp_path / "b", init_weights=tmp_path / "a" / "best")


def _new_parts(model, grown_from) -> list[torch.Tensor]:
    """The weights a grown model has beyond the model it was grown from."""
    if model.cfg.mid_input and not grown_from.mid_input:
        return [model.split.mid_weight]
    if model.cfg.time_hidden > grown_from.time_hidden:  # the projections' added columns
        hb, nb = model.cfg.band_hidden, grown_from.band_hidden
        return [b.time.proj.weight[:, grown_from.time_hidden :] for b in model.blocks] + [
            b.band.proj.weight[:, d * hb + nb : (d + 1) * hb] for b in model.blocks for d in (0, 1)
        ]
    return [b.time.proj.weight for b in model.blocks[grown_from.n_blocks :]]


@pytest.mark.parametrize(
    "growth",
    [{"n_blocks": 3}, {"mid_input": True}, {"time_hidden": 24, "band_hidden": 12}],
    ids=["deeper", "mid-input", "wider"],
)
def test_a_grown_model_starts_as_the_same_separator_then_its_new_parts_learn(tmp_path, growth):
    """--init into more trunk blocks, wider trunk LSTMs or with --mid-input: the copied
    model's masks at first; after training steps the new parts (zero at first) are not."""
    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", valid_every=2, valid_songs=1, valid_seconds=1)
    Trainer(replace(cfg, max_steps=2), tmp_path / "a", log=quiet).run()
    src_model = load_model(tmp_path / "a" / "best")[0]
    grown = Trainer(
        replace(cfg, model=replace(cfg.model, **growth), max_steps=3),
        tmp_path / "b",
        init_weights=tmp_path / "a" / "best",
        log=quiet,
    )
    torch.manual_seed(3)
    spec = torch.randn(2, cfg.model.n_fft // 2 + 1, 20, dtype=torch.complex64)
    with torch.no_grad():
        want, _ = src_model(spec)
        got, _ = grown.model(spec)
    assert torch.allclose(got, want, atol=1e-6)
    new = _new_parts(grown.model, cfg.model)
    assert new and not any(bool(p.detach().any()) for p in new)
    new_blocks = grown.model.blocks[cfg.model.n_blocks :]
    assert all(bool(b.time.rnn.weight_ih_l0.detach().any()) for b in new_blocks)  # not dead
    grown.run()
    assert all(bool(p.detach().any()) for p in new)
    assert load_model(tmp_path / "b" / "best")[0].cfg == grown.model.cfg
