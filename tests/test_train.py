"""Training: the loss falls, resume is exact, torchrun processes agree, the benchmark runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_support import make_corpus

from model.bsrnn import BSRNN
from model.config import ModelConfig
from training.checkpoint import load_compact
from training.train import TrainConfig, Trainer, digest, to_items
from training.train_data import DataConfig, make_batch


def tiny_config(root: Path, **kw) -> TrainConfig:
    data = DataConfig(root=str(root), segment_seconds=0.25, batch_size=2, seed=1)
    base = TrainConfig(
        model=ModelConfig.preset("tiny"),
        data=data,
        lr=3e-3,
        warmup_steps=1,
        workers=0,
        valid_songs=0,
        log_every=1,
    )
    return replace(base, **kw)


def quiet(msg: str) -> None:
    pass


def test_a_few_steps_reduce_the_loss(tmp_path):
    make_corpus(tmp_path / "data")
    tr = Trainer(tiny_config(tmp_path / "data"), tmp_path / "run", log=quiet)
    batch = make_batch(tr.train_corpus, tr.cfg.data, 0)
    first = tr.train_step(batch)["loss"]
    for _ in range(15):
        last = tr.train_step(batch)["loss"]
    assert last < 0.8 * first, (first, last)


def test_resume_gives_the_identical_next_step(tmp_path):
    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data")
    Trainer(replace(cfg, max_steps=3), tmp_path / "a", log=quiet).run()
    resumed = Trainer(replace(cfg, max_steps=4), tmp_path / "a", log=quiet)
    assert resumed.step == 3
    resumed.run()
    straight = Trainer(replace(cfg, max_steps=4), tmp_path / "b", log=quiet)
    straight.run()
    assert resumed.step == straight.step == 4
    for (k, a), (_, b) in zip(
        resumed.model.state_dict().items(), straight.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    # And step 4 really changed something, so the equality above is not vacuous.
    at3 = Trainer(replace(cfg, max_steps=3), tmp_path / "c", log=quiet)
    at3.run()
    assert digest(at3.model) != digest(straight.model)


def test_sigterm_stops_a_run_after_saving_it(tmp_path):
    make_corpus(tmp_path / "data")

    def log(msg: str) -> None:  # called inside the loop: the signal arrives mid-run
        if msg.startswith("step 3 "):
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    tr = Trainer(replace(tiny_config(tmp_path / "data"), max_steps=1000), tmp_path / "a", log=log)
    tr.run()
    assert tr.interrupted and tr.step == 3
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back
    assert Trainer(tiny_config(tmp_path / "data"), tmp_path / "a", log=quiet).step == 3


def test_validation_curve_and_compact_checkpoint(tmp_path):
    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", max_steps=4, valid_every=2, valid_songs=1, valid_seconds=1)
    tr = Trainer(cfg, tmp_path / "run", log=quiet)
    tr.run()
    assert [r["step"] for r in tr.curve] == [2, 4]
    assert (tmp_path / "run" / "curve.csv").read_text().count("\n") == 3
    assert (tmp_path / "run" / "best" / "model.safetensors").is_file()
    assert set(tr.baselines) == {"mixture", "gain_only"}


def test_kept_steps_are_the_weights_of_their_step(tmp_path):
    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", max_steps=5, keep_every=2)
    tr = Trainer(replace(cfg, max_steps=4), tmp_path / "run", log=quiet)
    tr.run()
    kept = sorted(p.name for p in (tmp_path / "run" / "steps").iterdir())
    assert kept == ["2", "4"]
    model, state = load_compact(tmp_path / "run" / "steps" / "4")
    assert state["step"] == 4
    for name, t in model.state_dict().items():  # fp16 copies of the step-4 weights
        torch.testing.assert_close(t, tr.weights.state_dict()[name].half().float())
    tr = Trainer(cfg, tmp_path / "run", log=quiet)
    tr.run()
    m2, _ = load_compact(tmp_path / "run" / "steps" / "2")
    assert any(not torch.equal(a, b) for a, b in zip(m2.state_dict().values(),
               model.state_dict().values(), strict=True))  # fmt: skip


def test_release_export_loads_and_its_card_says_how_it_was_made(tmp_path):
    from model.separator import Separator
    from training.train_release import export

    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", max_steps=2, valid_every=2, valid_songs=1, valid_seconds=1)
    tr = Trainer(cfg, tmp_path / "run", command="stemlive train --steps 2", log=quiet)
    tr.run()
    dst = export(tmp_path / "run" / "best", tmp_path / "rel", "tinyrel", notes="corpus grew")
    card = (dst / "MODEL_CARD.md").read_text()
    assert "# stemlive weights: tinyrel" in card and "2 steps" in card
    assert "`stemlive train --steps 2`" in card and "- Notes: corpus grew" in card
    sep = Separator.load(str(dst))
    assert sep.info["notes"] == "corpus grew" and sep.info["steps"] == 2
    assert sep.cfg.ratio_blend == 0.0 and "ratio_blend" not in card
    blended = export(tmp_path / "run" / "best", tmp_path / "rel2", ratio_blend=0.3)
    assert Separator.load(str(blended)).cfg.ratio_blend == 0.3
    assert "0.3 its share" in (blended / "MODEL_CARD.md").read_text()
    assert sep.cfg.input_level_db == 0.0 and "input_level_db" not in card
    levelled = export(tmp_path / "run" / "best", tmp_path / "rel3", input_level_db=-26.0)
    assert Separator.load(str(levelled)).cfg.input_level_db == -26.0
    assert "to -26 dB RMS" in (levelled / "MODEL_CARD.md").read_text()


def test_an_averaged_release_is_the_mean_of_its_checkpoints_and_its_card_names_them(tmp_path):
    from model.errors import StemliveError
    from model.separator import Separator
    from training.train_release import export

    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", max_steps=4, keep_every=2)
    Trainer(cfg, tmp_path / "run", log=quiet).run()
    a, b = tmp_path / "run" / "steps" / "2", tmp_path / "run" / "steps" / "4"
    dst = export(a, tmp_path / "soup", "soup", average=[b], ratio_blend=0.3)
    ma, mb = load_compact(a)[0].state_dict(), load_compact(b)[0].state_dict()
    sep = Separator.load(str(dst))
    assert sep.cfg.ratio_blend == 0.3
    moved = 0
    for name, t in sep.model.state_dict().items():
        torch.testing.assert_close(t, ((ma[name] + mb[name]) / 2).half().float())
        moved += int(not torch.equal(ma[name], mb[name]))
    assert moved > 0  # the two steps differ, so the mean is neither
    assert [x["step"] for x in sep.info["averaged"]] == [2, 4]
    card = (dst / "MODEL_CARD.md").read_text()
    assert "- Averaged: the uniform average of the weights of" in card and "(step 4)" in card
    other = tmp_path / "other"
    shutil.copytree(b, other)
    conf = json.loads((other / "config.json").read_text())
    conf["model"]["stems"] = conf["model"]["stems"][::-1]  # same shapes, another network
    (other / "config.json").write_text(json.dumps(conf))
    with pytest.raises(StemliveError, match="another network"):
        export(a, tmp_path / "bad", average=[other])
    assert not (tmp_path / "bad").exists()


def test_torchrun_two_processes_agree_on_weights(tmp_path):
    make_corpus(tmp_path / "data")
    exe = shutil.which("stemlive", path=os.path.dirname(sys.executable))
    assert exe, "the stemlive entry point is not installed in this environment"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29533",
        "--no-python",
        exe,
        "train",
        "--run-dir",  # not "--run": torchrun would take it as an abbreviation of its --run-path
        str(tmp_path / "run"),
        "--preset",
        "tiny",
        "--data",
        str(tmp_path / "data"),
        "--segment",
        "0.25",
        "--batch",
        "1",
        "--steps",
        "3",
        "--workers",
        "0",
        "--valid-every",
        "0",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    digests = dict(re.findall(r"rank (\d)/2 step 3 weights ([0-9a-f]{16})", out.stdout))
    assert set(digests) == {"0", "1"}, out.stdout[-2000:]
    assert digests["0"] == digests["1"]
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    m = BSRNN(ModelConfig.preset("tiny"))
    m.load_state_dict(saved["model"])
    assert digest(m) == digests["0"]
    torch.manual_seed(1)
    assert digest(m) != digest(BSRNN(ModelConfig.preset("tiny")))


def test_benchmark_runs_on_the_tiny_preset(tmp_path):
    from training.train_bench import benchmark, format_row

    make_corpus(tmp_path / "data")
    res = benchmark(tiny_config(tmp_path / "data"), steps=2, warmup=1)
    assert res["steps_per_hour"] > 0 and res["audio_seconds_per_hour"] > 0
    assert res["gflops_per_step"] > 0
    assert abs(sum(res["split"].values()) - 1) < 1e-6
    assert "steps/h" in format_row(res)


def test_the_moving_average_is_what_is_validated_kept_and_resumed(tmp_path):
    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", ema=0.5)
    tr = Trainer(cfg, tmp_path / "run", log=quiet)
    expected = None
    for step in range(3):
        tr.train_step(make_batch(tr.train_corpus, cfg.data, step))
        now = {k: v.clone() for k, v in tr.model.named_parameters()}
        expected = now if expected is None else {k: 0.5 * expected[k] + 0.5 * now[k] for k in now}
    got = dict(tr.weights.named_parameters())
    for k, v in expected.items():
        torch.testing.assert_close(got[k], v, rtol=1e-6, atol=1e-7)
    assert digest(tr.weights) != digest(tr.model)
    # The best checkpoint holds the average; an exact resume continues it.
    run = replace(cfg, valid_every=2, valid_songs=1, valid_seconds=1)
    Trainer(replace(run, max_steps=3), tmp_path / "a", log=quiet).run()
    best = load_compact(tmp_path / "a" / "best")[0]
    at2 = Trainer(replace(run, max_steps=2), tmp_path / "c", log=quiet)
    at2.run()
    torch.testing.assert_close(
        best.state_dict(), {k: v.half().float() for k, v in at2.weights.state_dict().items()}
    )
    resumed = Trainer(replace(run, max_steps=4), tmp_path / "a", log=quiet)
    resumed.run()
    straight = Trainer(replace(run, max_steps=4), tmp_path / "b", log=quiet)
    straight.run()
    assert digest(resumed.weights) == digest(straight.weights)


def test_carried_segments_start_each_step_from_the_previous_state(tmp_path):
    """carry_segments 2: the second step of a window starts from the first's final state."""
    make_corpus(tmp_path / "data")
    base = tiny_config(tmp_path / "data")
    cfg = replace(base, data=replace(base.data, carry_segments=2))
    tr = Trainer(cfg, tmp_path / "run", log=quiet)
    seen: list = []
    forward = tr.net.forward
    tr.ddp = lambda mix, state, channels: seen.append(state) or forward(mix, state, channels)
    for step in range(3):
        tr.train_step(make_batch(tr.train_corpus, cfg.data, step))
    assert seen[0] is None and seen[2] is None  # each window starts from silence
    assert seen[1] is not None and all(not h.requires_grad for h, _ in seen[1])
    assert any(bool(h.any()) for h, _ in seen[1])
    # and that state changes what the model computes for the second piece
    mix = to_items(make_batch(tr.train_corpus, cfg.data, 1))[0]
    with torch.no_grad():
        carried, cold = tr.net(mix, seen[1])[1], tr.net(mix)[1]
    assert not torch.allclose(carried, cold)
    # resume is exact: last.pt keeps the carried state
    tr.save()
    again = Trainer(cfg, tmp_path / "run", log=quiet)
    assert again.step == 3
    for (h, c), (h2, c2) in zip(tr.carry, again.carry, strict=True):
        assert torch.equal(h, h2) and torch.equal(c, c2)


def test_bf16_computes_the_same_separation_as_float32():
    """The bf16 path runs the model's own trunk and masks (a residual stem included)."""
    from training.train import SeparationNet

    torch.manual_seed(0)
    cfg = replace(ModelConfig.preset("tiny"), residual_stem="other")
    model = BSRNN(cfg)
    mix = 0.1 * torch.randn(2, 8000)
    state = model.init_state(2)
    state = [(h + 0.1, c - 0.1) for h, c in state]
    with torch.no_grad():
        ref_spec, ref_wave, ref_state = SeparationNet(model)(mix, state)
        spec, wave, new_state = SeparationNet(model, bf16=True)(mix, state)
    # the four stems still sum to the mixture: the residual mask is applied
    np.testing.assert_allclose(wave.sum(1).numpy(), mix.numpy(), atol=1e-3)
    scale = ref_spec.abs().max()
    assert float((spec - ref_spec).abs().max() / scale) < 0.05
    for (h, c), (h2, c2) in zip(ref_state, new_state, strict=True):
        assert float((h - h2.float()).abs().max()) < 0.05
        assert float((c - c2.float()).abs().max()) < 0.05


def test_a_validation_set_without_a_score_for_a_stem_is_refused_before_training(tmp_path):
    import pytest
    import soundfile as sf

    from model.errors import StemliveError

    make_corpus(tmp_path / "data", valid=2)
    cfg = tiny_config(tmp_path / "data", valid_songs=1, valid_seconds=1)
    # Bass silent in the first second of the one song validated: its SDR would be NaN.
    path = tmp_path / "data" / "valid" / "song0" / "bass.wav"
    x, sr = sf.read(path)
    x[:sr] = 0
    sf.write(path, x, sr, "PCM_16")
    with pytest.raises(StemliveError, match=r"cannot score bass: in the first 1 s") as e:
        Trainer(cfg, tmp_path / "run", log=quiet)
    assert str(path) in str(e.value) and not (tmp_path / "run").exists()
    assert Trainer(replace(cfg, valid_songs=2), tmp_path / "run", log=quiet).baselines


def test_a_run_whose_first_steps_have_zero_loss_and_gradient_stops(tmp_path):
    """Silent batches (here: every stem silenced by the augmentation) teach nothing."""
    import pytest

    from model.errors import StemliveError
    from training.train import ZERO_STEPS

    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", max_steps=50)
    seen = []
    silent = replace(cfg, data=replace(cfg.data, p_silence=1.0))
    with pytest.raises(StemliveError, match=f"the first {ZERO_STEPS} steps .* exactly zero"):
        Trainer(silent, tmp_path / "a", log=seen.append).run()
    assert f"step {ZERO_STEPS} " in seen[-1] and not (tmp_path / "a" / "last.pt").exists()
    tr = Trainer(replace(cfg, max_steps=ZERO_STEPS + 1), tmp_path / "b", log=quiet)
    tr.run()  # the same run on sound goes on
    assert tr.step == ZERO_STEPS + 1


def test_a_validation_without_a_score_stops_the_run(tmp_path):
    import pytest

    from model.errors import StemliveError

    make_corpus(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", max_steps=4, valid_every=2, valid_songs=1, valid_seconds=1)
    tr = Trainer(cfg, tmp_path / "run", log=quiet)
    with torch.no_grad():
        tr.model.blocks[0].time.proj.bias.fill_(float("nan"))  # a diverged model
    with pytest.raises(StemliveError, match="validation at step 2 gave no score for vocals"):
        tr.run()
    assert tr.curve == [] and not (tmp_path / "run" / "last.pt").exists()
