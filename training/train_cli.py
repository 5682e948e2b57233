"""`stemlive train`, `eval` and `semisup`: thin shells over training.train/evaluate/semisup.

Torch and the training modules are imported inside the handlers, so that
`stemlive --help` stays fast and light.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path


def _newest(run_dir: Path, resume: Path | None) -> Path | None:
    """The run's own last.pt when it is at least as far as ``resume`` (exact beats compact)."""
    import json

    import torch

    last = run_dir / "last.pt"
    if resume is None or not last.is_file() or not resume.is_dir():
        return resume
    compact_step = json.loads((resume / "train_state.json").read_text())["step"]
    last_step = torch.load(last, map_location="cpu", weights_only=True)["state"]["step"]
    return last if last_step >= compact_step else resume


def _train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from model.config import ModelConfig
    from model.errors import StemliveError
    from training.train import Trainer, dist_teardown, load_config, stdout_log

    run_dir = Path(args.run)
    cfg_path = args.config
    if cfg_path is None and (run_dir / "config.json").is_file():
        cfg_path = run_dir / "config.json"  # resuming a run keeps its config
    resume = Path(args.resume) if args.resume else None
    if cfg_path is None and resume is not None and (resume / "train_state.json").is_file():
        import json

        from training.train import TrainConfig

        cfg = TrainConfig.from_dict(json.loads((resume / "train_state.json").read_text())["config"])
    else:
        cfg = load_config(cfg_path)
    resume = _newest(run_dir, resume)
    if args.preset:
        try:
            cfg = replace(cfg, model=ModelConfig.preset(args.preset))
        except ValueError as exc:
            raise StemliveError(str(exc)) from None
    model_over = {
        k: v
        for k, v in (
            ("n_blocks", args.n_blocks),
            ("time_hidden", args.time_hidden),
            ("band_hidden", args.band_hidden),
            ("head_hidden", args.head_hidden),
            ("residual_stem", args.residual_stem),
            ("mid_input", args.mid_input),
        )
        if v is not None
    }
    if model_over:
        try:
            cfg = replace(cfg, model=replace(cfg.model, **model_over))
        except ValueError as exc:
            raise StemliveError(str(exc)) from None
    data_over = {
        k: v
        for k, v in (
            ("root", args.data),
            ("segment_seconds", args.segment),
            ("batch_size", args.batch),
            ("max_songs", args.max_songs),
            ("carry_segments", args.carry),
            ("p_mono", args.p_mono),
            ("vocal_root", args.vocals),
            ("p_real_vocal", args.p_real_vocal),
            ("p_real_backing", args.p_real_backing),
            ("p_stem_fx", args.p_stem_fx),
            ("p_speed", args.p_speed),
            ("p_band_limit", args.p_band_limit),
            ("other_root", args.others),
            ("p_real_other", args.p_real_other),
            ("p_voice_gap", args.p_voice_gap),
            ("p_amp", args.p_amp),
            ("p_bass_drive", args.p_bass_drive),
            ("p_bass_sub", args.p_bass_sub),
            ("p_bright_voice", args.p_bright_voice),
            ("p_record_backing", args.p_record_backing),
            ("p_record_gap", args.p_record_gap),
            ("vocal_db", args.vocal_db),
            ("input_level_db", args.input_level_db),
            ("partial_root", args.partial),
            ("partial_batch", args.partial_batch),
        )
        if v is not None
    }
    if args.carry is not None and args.carry < 1:
        raise StemliveError(f"--carry must be 1 or more, got {args.carry}")
    if data_over:
        cfg = replace(cfg, data=replace(cfg.data, **data_over))
    loss_over = {
        k: tuple(v)
        for k, v in (("stem_weights", args.stem_weights), ("mrstft_ffts", args.mrstft))
        if v is not None
    }
    if loss_over.get("stem_weights") and len(loss_over["stem_weights"]) != len(cfg.model.stems):
        raise StemliveError(
            f"--stem-weights needs {len(cfg.model.stems)} values ({', '.join(cfg.model.stems)})"
        )
    for k, v in (
        ("sdr_weight", args.sdr_weight),
        ("comp_weight", args.comp_weight),
        ("comp_power", args.comp_power),
    ):
        if v is not None:
            loss_over[k] = v
    if loss_over:
        try:
            cfg = replace(cfg, loss=replace(cfg.loss, **loss_over))
        except ValueError as exc:
            raise StemliveError(f"--{str(exc).replace('_', '-')}") from None
    top = {
        k: v
        for k, v in (
            ("threads", args.threads),
            ("workers", args.workers),
            ("max_steps", args.steps),
            ("max_minutes", args.minutes),
            ("valid_every", args.valid_every),
            ("keep_every", args.keep_every),
            ("checkpoint_minutes", args.checkpoint_minutes),
            ("patience", args.patience),
            ("lr", args.lr),
            ("ema", args.ema),
            ("valid_root", args.valid_data),
        )
        if v is not None
    }
    if args.bf16 is not None:
        top["bf16"] = args.bf16
    cfg = replace(cfg, **top)
    command = "stemlive " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if args.benchmark:
        from training.train_bench import benchmark, format_row

        res = benchmark(cfg, steps=args.benchmark_steps)
        print(format_row(res))
        if args.benchmark_json:
            import json

            with open(args.benchmark_json, "a") as f:
                f.write(json.dumps(res) + "\n")
        return 0
    if args.ensure_data:
        from training.train_corpus import CorpusSpec, generate_corpus

        generate_corpus(
            Path(cfg.data.root), CorpusSpec(train_songs=args.ensure_data), jobs=args.data_jobs
        )
    trainer = Trainer(
        cfg,
        run_dir,
        resume_from=resume,
        command=command,
        log=stdout_log,
        init_weights=args.init,
        all_songs=args.all_songs,
    )
    try:
        trainer.run()
    finally:
        dist_teardown()
    if args.export and trainer.rank == 0:
        from training.train_release import export_release

        export_release(trainer, Path(args.export))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from model.errors import StemliveError
    from training.evaluate import EvalConfig, evaluate, table, write_report

    if args.suite:
        from training.eval_suite import run_suite, suite_table

        sets = tuple(x for x in args.sets.split(",") if x)
        result = run_suite(args.weights, Path(args.out), sets, args.seconds)
        print(suite_table(result))
        print(f"wrote {args.out}/suite.json, suite.md")
        return 0
    if not args.data:
        raise StemliveError("stemlive eval needs --data ROOT (or --suite)")
    cfg = EvalConfig(
        root=args.data,
        split=args.split,
        weights=args.weights,
        max_songs=args.max_songs,
        seconds=args.seconds,
        museval=args.museval,
        baselines=tuple(args.baselines.split(",")) if args.baselines else (),
    )
    result = evaluate(cfg)
    write_report(result, Path(args.out))
    print(table(result["summary"], "sdr"))
    print(table(result["summary"], "csdr"))
    print(f"wrote {args.out}/eval.json, eval.md, eval_sdr.png")
    return 0


def _semisup(args: argparse.Namespace) -> int:
    from training.semisup import STEMS, SemisupConfig, run_semisup
    from training.train import stdout_log

    cfg = SemisupConfig(
        unlabeled=args.unlabeled,
        labeled=args.labeled,
        out=args.out,
        weights=args.weights,
        segment_seconds=args.segment,
        threshold_db=args.threshold_db,
        new_songs=args.new_songs,
        labeled_songs=args.labeled_songs,
        teacher=args.teacher,
        mir1k=args.mir1k or "",
        mir1k_clips=args.mir1k_clips,
    )
    rep = run_semisup(
        cfg,
        args.steps,
        Path(args.run),
        args.split,
        log=stdout_log,
        control=args.control,
        score=tuple(args.score),
        carry=args.carry,
        lr=args.lr,
        eval_seconds=args.eval_seconds,
    )
    for source, stems in rep["kept_by_source"].items():
        for s, c in stems.items():
            print(
                f"kept {source} {s}: {c['target']} alone, {c['residual']} without, "
                f"of {c['segments']} segments"
            )
    for source, stems in rep["label_check"].items():
        for s, row in stems.items():
            for key, v in row.items():
                print(
                    f"label check {source} {s} {key}: n {v['n']} median {v['median']:.2f} "
                    f"mean {v['mean']:.2f} p10 {v['p10']:.2f} dB"
                )
    for source, stems in rep["threshold_sweep"].items():
        for s, rows in stems.items():
            for r in rows:
                print(
                    f"sweep {source} {s} {r['threshold_db']:g} dB: of {r['segments']}, "
                    f"{r['target']} alone (label SDR {r['target_sdr_median']}), "
                    f"{r['residual']} without (residual SDR {r['residual_sdr_median']}, "
                    f"true leak {r['leak_db_median']} dB)"
                )
    for name, whens in rep.get("sets", {}).items():
        for when, summary in whens.items():
            sdrs = " ".join(f"{s} {summary[s]['sdr']:.2f}" for s in STEMS)
            print(f"{name} {when}: {sdrs}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the training subcommands."""
    ss = subparsers.add_parser(
        "semisup",
        help="semi-supervised fine-tuning on unlabeled mixtures (the BSRNN paper's pipeline)",
        description="Separate unlabeled mixtures, keep segments where a stem and its residual "
        "differ by >= --threshold-db, build new songs from the kept target-alone segments and "
        "labeled stems, fine-tune, and score the test split before and after.",
    )
    ss.add_argument("--unlabeled", default="", help="folder of audio files (44.1 kHz)")
    ss.add_argument(
        "--mir1k",
        help="prepared MIR-1K folder: its train singers' clips join the unlabeled mixtures "
        "(their true voices only check the teacher's labels)",
    )
    ss.add_argument("--mir1k-clips", type=int, default=0, help="that many clips, spread (0: all)")
    ss.add_argument(
        "--teacher",
        choices=("model", "spleeter"),
        default="model",
        help="who labels the mixtures: the model (4 stems) or Spleeter 2-stem (vocals only)",
    )
    ss.add_argument("--labeled", required=True, help="MUSDB18-HQ-layout root (train/, test/)")
    ss.add_argument("--out", default="data/semisup", help="new corpus root")
    ss.add_argument("--weights", help="trained model (default: the shipped default)")
    ss.add_argument("--segment", type=float, default=1.0, help="filter segment seconds")
    ss.add_argument("--threshold-db", type=float, default=30.0)
    ss.add_argument("--new-songs", type=int, default=50)
    ss.add_argument(
        "--labeled-songs", type=int, default=0, help="use the first N labeled songs (0: all)"
    )
    ss.add_argument(
        "--control",
        action="store_true",
        help="also fine-tune on the labeled songs alone, for comparison",
    )
    ss.add_argument(
        "--steps", type=int, default=500, help="fine-tuning steps (0: only label and write)"
    )
    ss.add_argument("--carry", type=int, default=1, help="carried segments while fine-tuning")
    ss.add_argument("--lr", type=float, default=3e-4, help="fine-tuning learning rate")
    ss.add_argument(
        "--score",
        action="append",
        default=[],
        metavar="ROOT:SPLIT",
        help="a further set scored before and after (repeatable), e.g. data/unseen:valid",
    )
    ss.add_argument(
        "--eval-seconds", type=float, default=0.0, help="score the first S seconds (0: all)"
    )
    ss.add_argument("--split", default="test", help="split scored before and after")
    ss.add_argument("--run", default="training/runs/semisup", help="fine-tuning run folder")
    ss.set_defaults(func=_semisup)
    e = subparsers.add_parser(
        "eval",
        help="score a model and the baselines on a MUSDB18-HQ-layout split",
        description="Per stem: whole-track SDR, SI-SDR and cSDR (median of 1 s frames) of the "
        "streaming-equivalent separation and of the baselines; writes a table, JSON and a PNG.",
    )
    e.add_argument("--data", help="corpus root (MUSDB18-HQ layout)")
    e.add_argument(
        "--suite",
        action="store_true",
        help="every test set side by side: generated (seen sources), unseen sources, "
        "held-out real singers (MIR-1K), the real clip; writes OUT/suite.md",
    )
    e.add_argument("--sets", default="", help="with --suite: comma-separated subset")
    e.add_argument("--split", default="test")
    e.add_argument("--weights", help="weights folder (default: the shipped default model)")
    e.add_argument("--max-songs", type=int, default=0)
    e.add_argument("--seconds", type=float, default=0.0, help="score only the first S seconds")
    e.add_argument("--museval", action="store_true", help="cSDR with museval (BSSEval v4, slow)")
    e.add_argument(
        "--baselines",
        default="mixture,gain_only,centre_cancel,hpss,irm,spleeter",
        help="comma-separated; empty for none",
    )
    e.add_argument("--out", default="training/runs/eval", help="output folder")
    e.set_defaults(func=_eval)
    p = subparsers.add_parser(
        "train",
        help="train a causal BSRNN on a MUSDB18-HQ-layout folder",
        description="Train (or resume) a run folder. Settings come from --config (a "
        "TrainConfig JSON), else the run folder's config.json, else the defaults; the flags "
        "below replace single fields.",
    )
    p.add_argument(
        "--run",
        "--run-dir",
        dest="run",
        default="training/runs/default",
        help="run folder (resumes if it holds last.pt)",
    )
    p.add_argument("--config", type=Path, help="TrainConfig JSON")
    p.add_argument("--resume", help="a last.pt or a compact checkpoint folder to start from")
    p.add_argument("--preset", help="model preset: tiny, standard, low-latency")
    p.add_argument(
        "--n-blocks",
        type=int,
        help="trunk blocks; with --init from fewer, the added blocks start as the identity",
    )
    for axis in ("time", "band"):
        p.add_argument(
            f"--{axis}-hidden",
            type=int,
            help=f"{axis} LSTM units per trunk block; with --init from fewer, the old units "
            "come first and the added ones start unread",
        )
    p.add_argument("--head-hidden", type=int)
    p.add_argument(
        "--residual-stem",
        metavar="STEM",
        help="this stem's mask is 1 - the others' (stems sum to the mixture); '' for none",
    )
    p.add_argument(
        "--mid-input",
        action=argparse.BooleanOptionalAction,
        help="each channel also sees the mix-down of its signal's channels (stereo cues); "
        "with --init from a model without, its map starts at zero",
    )
    p.add_argument("--data", help="corpus root (MUSDB18-HQ layout)")
    p.add_argument(
        "--init",
        type=Path,
        help="a new run starts from these weights (a weights or compact checkpoint folder); "
        "for another preset, the tensors of matching shape (warm start)",
    )
    p.add_argument("--ensure-data", type=int, metavar="SONGS", help="generate the corpus first")
    p.add_argument(
        "--data-jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes generating the corpus for --ensure-data",
    )
    p.add_argument(
        "--all-songs",
        action="store_true",
        help="on resume, train on every song now in the corpus, not the run's saved list "
        "(after growing it with --ensure-data; the batches change from the resume step on)",
    )
    p.add_argument("--segment", type=float, help="segment seconds")
    p.add_argument("--batch", type=int, help="stereo mixtures per step and process")
    p.add_argument("--max-songs", type=int)
    p.add_argument(
        "--carry",
        type=int,
        metavar="K",
        help="K consecutive steps continue the same mixtures, carrying the LSTM state "
        "(K segments of context, as when streaming; 1: off)",
    )
    p.add_argument(
        "--p-mono",
        type=float,
        metavar="P",
        help="chance that a training mixture is made mono (both channels their mean)",
    )
    p.add_argument(
        "--vocals",
        metavar="DIR[,DIR...]",
        help="real voices: folders made by `stemlive data mir1k` or `data sung-speech`, "
        "comma-separated (clips drawn uniformly from all; real-backing items from MIR-1K's)",
    )
    p.add_argument(
        "--p-real-vocal", type=float, help="chance an item's vocals are a real voice (0-1)"
    )
    p.add_argument(
        "--p-real-backing",
        type=float,
        help="chance an item is a real voice over its own real backing (vocals loss only)",
    )
    p.add_argument(
        "--p-stem-fx", type=float, help="chance per stem of random EQ/saturation/compression"
    )
    p.add_argument("--p-speed", type=float, help="chance per stem of a pitch/tempo change")
    p.add_argument("--p-band-limit", type=float, help="chance an item is low-passed at 6.5-8 kHz")
    p.add_argument(
        "--others",
        metavar="DIRS",
        help="real instruments for the other stem: comma-separated folders of "
        "<song>/guitar.wav (`stemlive data real` writes DIR/unlabeled so)",
    )
    p.add_argument(
        "--p-real-other", type=float, help="chance an item's other stem gets a real instrument"
    )
    p.add_argument(
        "--p-voice-gap",
        type=float,
        help="chance a real voice falls silent for 20-100 %% of its item (rests)",
    )
    p.add_argument(
        "--p-amp",
        type=float,
        help="chance an item's generated other stem goes through a guitar amp (distortion)",
    )
    p.add_argument(
        "--p-bass-drive",
        type=float,
        help="chance an item's bass stem goes through a driven bass rig (harmonics in the mids)",
    )
    p.add_argument(
        "--p-bass-sub",
        type=float,
        help="chance an item's bass, if not driven, becomes a sub bass (its fundamental alone)",
    )
    p.add_argument(
        "--p-bright-voice",
        type=float,
        help="chance a real voice is brightened to a record's tilt (1-4 kHz lifted)",
    )
    p.add_argument(
        "--p-record-backing",
        type=float,
        help="share of the real-backing items whose voice sings over a real instrumental "
        "record (--others' <song>/mixture.wav) instead of its own backing",
    )
    p.add_argument(
        "--p-record-gap",
        type=float,
        help="chance a voice over a record rests for 20-100 %% of its item",
    )
    p.add_argument(
        "--vocal-db",
        type=float,
        metavar="DB",
        help="move every item's vocals this many dB against the rest (records mix them low)",
    )
    p.add_argument(
        "--input-level-db",
        type=float,
        metavar="DB",
        help="bring every item to this RMS (the separator's input_level_db; 0: off)",
    )
    p.add_argument(
        "--partial",
        metavar="DIR",
        help="semi-supervised items: the partial songs of `stemlive semisup` (DIR/train/*/"
        "known.json); with --vocals their known vocals are real voices as often as the batch's",
    )
    p.add_argument("--partial-batch", type=int, metavar="N", help="partial items per step")
    p.add_argument(
        "--valid-data",
        metavar="ROOT",
        help="validate on ROOT/valid instead of the training corpus's (e.g. data/unseen)",
    )
    p.add_argument("--threads", type=int)
    p.add_argument("--workers", type=int, help="data worker processes (0: inline)")
    p.add_argument("--steps", type=int, help="stop at this step")
    p.add_argument("--minutes", type=float, help="stop after this much training time")
    p.add_argument("--valid-every", type=int)
    p.add_argument("--checkpoint-minutes", type=float)
    p.add_argument(
        "--keep-every", type=int, help="a compact checkpoint in RUN/steps/<step> every N steps"
    )
    p.add_argument("--patience", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument(
        "--stem-weights",
        type=float,
        nargs="+",
        metavar="W",
        help="loss weight per stem, in the model's stem order (e.g. 1 1 1 2 favours other)",
    )
    p.add_argument(
        "--ema",
        type=float,
        metavar="DECAY",
        help="validate, keep and export a moving average of the weights (e.g. 0.999; 0: off)",
    )
    p.add_argument(
        "--sdr-weight",
        type=float,
        help="add minus the batch SDR per stem (dB) times this to the loss (0: off)",
    )
    p.add_argument(
        "--comp-weight",
        type=float,
        help="add L1 on power-law compressed spectra times this to the loss (0: off); "
        "it weighs quiet bins (a voice's upper harmonics) more than the linear terms",
    )
    p.add_argument(
        "--comp-power", type=float, help="the compression's power (default 0.3; 1: linear)"
    )
    p.add_argument(
        "--mrstft",
        type=int,
        nargs="*",
        metavar="N_FFT",
        help="add multi-resolution STFT loss terms at these FFT sizes (none: remove them)",
    )
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--export", help="after training, write a release folder here")
    p.add_argument("--benchmark", action="store_true", help="measure speed only (no run folder)")
    p.add_argument("--benchmark-steps", type=int, default=5)
    p.add_argument("--benchmark-json", help="append the benchmark result to this file")
    p.set_defaults(func=_train)
