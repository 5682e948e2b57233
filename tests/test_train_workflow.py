"""The documented workflow end to end: `stemlive data synth` -> `train` -> export -> `eval`,
on each corpus format the commands write (16-bit WAV) or accept (24-bit and float WAV, FLAC);
a corpus of silent stems stops `stemlive train` with exit status 2 before the first step."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from realtime.cli import main
from training.train import Trainer, load_config, to_items
from training.train_data import STEMS, Corpus, make_batch

ROOT = Path(__file__).resolve().parent.parent
SEED = 14  # songs 14..17 fall in test, train, train, valid (training.synth.corpus.split_of)
FORMATS = {  # name: (extension, subtype; None: the files as `data synth` wrote them)
    "wav16": ("wav", None),
    "wav24": ("wav", "PCM_24"),
    "float": ("wav", "FLOAT"),
    "flac": ("flac", "PCM_16"),
}
NUMBER = r"(-?\d+\.\d+|nan)"


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """Four songs of 4 s from `stemlive data synth`."""
    out = tmp_path_factory.mktemp("synth") / "data"
    args = f"data synth --songs 4 --seconds 4 --seed {SEED} --jobs 1 --out {out}"
    assert main(args.split()) == 0
    assert {p.parent.name for p in out.glob("*/synth_*")} == {"train", "valid", "test"}
    # The format of `training.train_corpus` too: 16-bit stems, which the loader maps.
    stems = [p for p in out.glob("*/*/*.wav") if p.stem in STEMS]
    assert len(stems) == 16 and {sf.info(str(p)).subtype for p in stems} == {"PCM_16"}
    assert isinstance(Corpus(out, "train").songs[0][0], np.memmap)
    return out


def rewritten(src: Path, dst: Path, ext: str, subtype: str | None) -> Path:
    """A copy of the corpus ``src`` with every stem stored as ``ext``/``subtype``."""
    shutil.copytree(src, dst)
    if subtype is None:
        return dst
    for path in sorted(dst.glob("*/*/*.wav")):
        if path.stem in STEMS:
            x, sr = sf.read(path, dtype="float64")
            path.unlink()
            sf.write(path.with_suffix(f".{ext}"), x, sr, subtype)
    return dst


def held_out_loss(trainer: Trainer) -> float:
    """The training loss of the trainer's model on batches it never trained on."""
    cfg = replace(trainer.cfg.data, seed=99)
    total = 0.0
    with torch.no_grad():
        for k in range(6):
            mix, targets = to_items(make_batch(trainer.train_corpus, cfg, k))
            est_spec, est_wave, _ = trainer.net(mix)
            total += trainer.loss_fn(est_spec, est_wave, targets)[0].item()
    return total / 6


@pytest.mark.parametrize("fmt", FORMATS)
def test_synth_train_export_eval_on_each_corpus_format(synth, fmt, tmp_path, capsys):
    ext, subtype = FORMATS[fmt]
    data = rewritten(synth, tmp_path / "data", ext, subtype)
    assert {p.suffix for p in data.glob("train/*/vocals.*")} == {f".{ext}"}
    # Every format reads as the samples `data synth` wrote (24-bit and float at full scale).
    for got, want in zip(Corpus(data, "train").songs, Corpus(synth, "train").songs, strict=True):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)

    run, rel = tmp_path / "run", tmp_path / "release"
    args = (
        f"train --run {run} --preset tiny --data {data} --steps 20 --segment 0.5 --batch 2 "
        f"--valid-every 10 --workers 0 --lr 1e-2 --export {rel}"
    )
    assert main(args.split()) == 0
    out = capsys.readouterr().out
    base = re.search(rf"gain-only baseline \(valid SDR\): .*mean {NUMBER}", out)
    assert base and np.isfinite(float(base[1])), out
    steps = re.findall(rf"step (\d+) [\d.]+ min loss {NUMBER} \(relative [\d.]+\) grad (\S+)", out)
    assert [int(s) for s, _, _ in steps] == [10, 20], out
    assert all(float(loss) > 0 and float(grad) > 0 for _, loss, grad in steps), out
    valid = re.findall(rf"valid step (\d+) .*?: (.*?) mean {NUMBER}", out)
    assert [int(s) for s, _, _ in valid] == [10, 20], out
    for _, stems, mean in valid:
        assert all(np.isfinite(float(v)) for v in re.findall(NUMBER, stems)) and np.isfinite(
            float(mean)
        ), out
    # The loss falls: on batches neither model trained on, the trained weights (the run's
    # last.pt) beat the weights the run started from (a new run of the same config).
    cfg = load_config(run / "config.json")
    start, trained = (Trainer(cfg, d, log=lambda m: None) for d in (tmp_path / "new", run))
    assert trained.step == 20 and start.step == 0
    assert held_out_loss(trained) < 0.97 * held_out_loss(start)

    info = json.loads((rel / "config.json").read_text())["info"]
    assert info["trained"] and info["steps"] in (10, 20)  # the best validation's step
    report = tmp_path / "eval"
    args = f"eval --data {data} --split test --weights {rel} --baselines mixture --out {report}"
    assert main(args.split()) == 0
    summary = json.loads((report / "eval.json").read_text())["summary"]
    model = [summary["model"][s]["sdr"] for s in STEMS]
    mixture = [summary["mixture"][s]["sdr"] for s in STEMS]
    assert np.isfinite(model).all(), summary
    assert np.mean(model) > np.mean(mixture) + 3, summary  # it separates, a little


def test_a_corpus_of_silent_stems_stops_train_with_status_2_naming_a_file(synth, tmp_path):
    data = rewritten(synth, tmp_path / "data", "wav", None)
    for path in data.glob("train/*/*.wav"):
        if path.stem in STEMS:
            x, sr = sf.read(path)
            sf.write(path, np.zeros_like(x), sr, "PCM_16")
    cmd = [sys.executable, "-m", "realtime.cli", "train", "--run", str(tmp_path / "run")]
    cmd += f"--preset tiny --data {data} --steps 20 --segment 0.5 --workers 0".split()
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "step 1" not in proc.stdout
    assert re.fullmatch(
        r"stemlive train: error: every stem of every song in \S+/train reads as silence "
        r".*\S+/train/synth_\d+/(vocals|bass|drums|other)\.wav.*\n",
        proc.stderr,
    ), proc.stderr
    assert not (tmp_path / "run" / "last.pt").exists()
