"""`stemlive semisup`: the BSRNN paper's semi-supervised pipeline, for a four-stem model.

1. A teacher separates unlabeled mixtures: per stem, a target estimate and the
   residual (mixture minus target). The teacher is the trained model itself, or
   Spleeter 2-stem (vocals only), which has heard real records
   (``training.semisup_sources``: the teachers and the unlabeled sources).
2. Energy filter, segment by segment: keep a segment where target and
   residual differ by at least ``threshold_db``: "target" (a clean
   target-alone example) or "residual" (a clean no-target example).
3. New training songs: a stem track made of kept target-alone segments of
   stem s, the other three stems drawn from the labeled corpus, so every stem
   of the new song is known. And "partial" songs: a run of no-target segments
   of stem s (the residual: the other stems, unseparated) plus a labeled stem
   s; only stem s is known there, so only its loss counts (``known.json``).
4. Fine-tune on labeled + new songs; score before and after on one test set.

Axes: s stem, c channel, n sample.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from model.errors import StemliveError

STEMS = ("vocals", "bass", "drums", "other")


@dataclass(frozen=True)
class SemisupConfig:
    """Where the data is and how segments are filtered and mixed."""

    unlabeled: str  # a folder of audio files, or a MUSDB-layout split (uses mixture.wav)
    labeled: str  # MUSDB-layout root whose train/ split is mixed in
    out: str  # new corpus root (train/ = labeled songs linked + new songs; valid/ linked)
    weights: str | None = None  # the trained model P (default: shipped default)
    segment_seconds: float = 1.0
    threshold_db: float = 30.0
    floor_db: float = -60.0  # a segment whose mixture is quieter than this is skipped
    new_songs: int = 50
    labeled_songs: int = 0  # the first N labeled train songs (0: all); bounds the memory
    song_seconds: float = 4.0
    seed: int = 0
    # Who labels the unlabeled mixtures: "model" (P itself, four stems) or "spleeter"
    # (Spleeter 2-stem, vocals only: a teacher that has heard real records).
    teacher: str = "model"
    # A prepared MIR-1K folder (`stemlive data mir1k`): its train singers' clips join the
    # unlabeled mixtures (voice + backing); their true voices only check the labels.
    mir1k: str = ""
    mir1k_clips: int = 0  # that many clips, evenly spaced (0: all)

    def __post_init__(self) -> None:
        from training.semisup_sources import TEACHERS

        if self.teacher not in TEACHERS:
            raise StemliveError(
                f"unknown teacher {self.teacher!r}: choose one of {', '.join(TEACHERS)}"
            )
        if not self.unlabeled and not self.mir1k:
            raise StemliveError("no unlabeled mixtures: give a folder (--unlabeled) or --mir1k")


def _db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20))


def energy_filter(
    target: np.ndarray, residual: np.ndarray, seg: int, threshold_db: float, floor_db: float = -60.0
) -> list[tuple[int, str]]:
    """(start, "target" | "residual") of each segment of ``seg`` samples kept by the filter.

    ``target`` and ``residual``: (c, n). Segments where the two are within
    ``threshold_db`` of each other, or the whole is below ``floor_db``, are dropped.
    """
    kept = []
    for start in range(0, target.shape[-1] - seg + 1, seg):
        t, r = target[..., start : start + seg], residual[..., start : start + seg]
        if _db(t + r) < floor_db:
            continue
        diff = _db(t) - _db(r)
        if diff >= threshold_db:
            kept.append((start, "target"))
        elif -diff >= threshold_db:
            kept.append((start, "residual"))
    return kept


def _items(cfg: SemisupConfig, sample_rate: int):
    """The unlabeled mixtures of ``cfg``: its folder, then its MIR-1K train clips."""
    from training.semisup_sources import folder_items, mir1k_items

    if cfg.unlabeled:
        yield from folder_items(Path(cfg.unlabeled), sample_rate)
    if cfg.mir1k:
        yield from mir1k_items(Path(cfg.mir1k), cfg.mir1k_clips)


def collect(
    cfg: SemisupConfig, separate, sample_rate: int, log=print, stems=STEMS, items=None
) -> dict:
    """Run ``separate`` ((c, n) -> (len(stems), c, n)) over the unlabeled mixtures and filter.

    ``stems``: those the separator labels (Spleeter: vocals only). ``items``: the
    ``semisup_sources.Unlabeled`` mixtures (default: those of ``cfg``). Returns {stem:
    {"target": [(c, seg) arrays], "residual": [...]}, "sources": [per file], "by_source":
    {source: {stem: {kind: count}}}, "check": {source: {stem: {"target_sdr", "residual_sdr",
    "leak_db": [dB per kept segment]}}} and "sweep": {source: {stem: [segment_truth rows]}}
    (the check and the sweep only where a source knows the truth).
    """
    from training.evaluate_metrics import sdr
    from training.semisup_sources import segment_truth

    seg = int(cfg.segment_seconds * sample_rate)
    pool: dict = {s: {"target": [], "residual": []} for s in STEMS}
    pool["sources"], pool["by_source"], pool["check"], pool["sweep"] = [], {}, {}, {}
    for item in _items(cfg, sample_rate) if items is None else items:
        mix = item.mix
        est = separate(mix)
        counts = {}
        by_source = pool["by_source"].setdefault(item.source, {})
        for i, s in enumerate(stems):
            kept = energy_filter(est[i], mix - est[i], seg, cfg.threshold_db, cfg.floor_db)
            truth = (item.truth or {}).get(s)
            check = None
            if truth is not None:
                check = (
                    pool["check"]
                    .setdefault(item.source, {})
                    .setdefault(s, {"target_sdr": [], "residual_sdr": [], "leak_db": []})
                )
                sweep = pool["sweep"].setdefault(item.source, {}).setdefault(s, [])
                sweep += segment_truth(est[i], mix, truth, seg, cfg.floor_db)
            for start, kind in kept:
                part = slice(start, start + seg)
                src = (est[i] if kind == "target" else mix - est[i])[:, part].copy()
                pool[s][kind].append(src)
                if check is None:
                    continue
                if kind == "target":
                    check["target_sdr"].append(sdr(truth[:, part], src))
                else:
                    check["residual_sdr"].append(sdr(mix[:, part] - truth[:, part], src))
                    check["leak_db"].append(_db(truth[:, part]) - _db(mix[:, part]))
            counts[s] = {k: sum(1 for _, kk in kept if kk == k) for k in ("target", "residual")}
            total = by_source.setdefault(s, {"target": 0, "residual": 0, "segments": 0})
            for k in ("target", "residual"):
                total[k] += counts[s][k]
            total["segments"] += mix.shape[-1] // seg
        pool["sources"].append({"source": item.source, "file": item.name, "kept": counts})
        log(
            f"{item.source}/{item.name}: kept "
            + ", ".join(f"{s} {c['target']}+{c['residual']}" for s, c in counts.items())
        )
    return pool


def build_songs(cfg: SemisupConfig, pool: dict, labeled, sample_rate: int) -> list[dict]:
    """New songs (s, c, n) where one stem is a run of kept target-alone segments.

    ``labeled`` is a ``training.train_data.Corpus``; returns [{"stem", "segments",
    "stems": (s, c, n) float32, "labeled_from": [...]}].
    """
    rng = np.random.default_rng(cfg.seed)
    seg = int(cfg.segment_seconds * sample_rate)
    per_song = max(1, int(round(cfg.song_seconds / cfg.segment_seconds)))
    n = per_song * seg
    usable = [s for s in STEMS if pool[s]["target"]]
    songs = []
    for k in range(cfg.new_songs if usable else 0):
        stem = usable[k % len(usable)]
        idx = rng.integers(len(pool[stem]["target"]), size=per_song)
        stems = np.zeros((len(STEMS), 2, n), np.float32)
        stems[STEMS.index(stem)] = np.concatenate([pool[stem]["target"][j] for j in idx], -1)
        sources = []
        for i, other in enumerate(STEMS):
            if other == stem:
                continue
            song = int(rng.integers(len(labeled)))
            x = labeled.songs[song][i]
            start = int(rng.integers(max(1, x.shape[-1] - n + 1)))
            part = x[:, start : start + n].astype(np.float32) / 32768.0
            stems[i, :, : part.shape[-1]] = part
            sources.append({"stem": other, "song": labeled.names[song], "start": start})
        songs.append(
            {"stem": stem, "segments": idx.tolist(), "stems": stems, "labeled_from": sources}
        )
    return songs


def build_partial(cfg: SemisupConfig, pool: dict, labeled, sample_rate: int) -> list[dict]:
    """Partial songs: kept no-target segments of stem s + a labeled stem s (only s known)."""
    rng = np.random.default_rng([cfg.seed, 1])
    seg = int(cfg.segment_seconds * sample_rate)
    per_song = max(1, int(round(cfg.song_seconds / cfg.segment_seconds)))
    n = per_song * seg
    usable = [s for s in STEMS if pool[s]["residual"]]
    songs = []
    for k in range(cfg.new_songs if usable else 0):
        stem = usable[k % len(usable)]
        idx = rng.integers(len(pool[stem]["residual"]), size=per_song)
        resid = np.concatenate([pool[stem]["residual"][j] for j in idx], -1)
        song = int(rng.integers(len(labeled)))
        x = labeled.songs[song][STEMS.index(stem)]
        start = int(rng.integers(max(1, x.shape[-1] - n + 1)))
        known = np.zeros((2, n), np.float32)
        part = x[:, start : start + n].astype(np.float32) / 32768.0
        known[:, : part.shape[-1]] = part
        songs.append(
            {
                "known": stem,
                "segments": idx.tolist(),
                "residual": resid,
                "stem": known,
                "labeled_from": {"song": labeled.names[song], "start": start},
            }
        )
    return songs


def write_partial(out: Path, songs: list[dict]) -> Path:
    """``out``/train/<song>/{<stem>.wav, residual.wav, known.json}: see PartialCorpus."""
    import soundfile as sf

    for k, song in enumerate(songs):
        folder = out / "train" / f"partial{k:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        # The residual can be loud: scale both together to keep 16-bit files unclipped.
        peak = max(np.abs(song["residual"]).max(), np.abs(song["stem"]).max(), 1e-9)
        g = min(1.0, 0.99 / peak)
        sf.write(folder / f"{song['known']}.wav", g * song["stem"].T, 44100, "PCM_16")
        sf.write(folder / "residual.wav", g * song["residual"].T, 44100, "PCM_16")
        meta = {k2: v for k2, v in song.items() if k2 not in ("residual", "stem")}
        (folder / "known.json").write_text(json.dumps(meta) + "\n")
    return out


def write_corpus(cfg: SemisupConfig, songs: list[dict], labeled_names: list[str]) -> Path:
    """``out``/train: links to the labeled songs + the new songs; ``out``/valid: a link."""
    import soundfile as sf

    out = Path(cfg.out)
    train = out / "train"
    train.mkdir(parents=True, exist_ok=True)
    src = Path(cfg.labeled).resolve()
    for name in labeled_names:
        link = train / name
        if not link.exists():
            os.symlink(src / "train" / name, link)
    if (src / "valid").is_dir() and not (out / "valid").exists():
        os.symlink(src / "valid", out / "valid")
    for k, song in enumerate(songs):
        folder = train / f"semisup{k:05d}"
        folder.mkdir(exist_ok=True)
        for i, s in enumerate(STEMS):
            sf.write(folder / f"{s}.wav", song["stems"][i].T, 44100, "PCM_16")
        sf.write(folder / "mixture.wav", song["stems"].sum(0).T, 44100, "FLOAT")
        meta = {k2: v for k2, v in song.items() if k2 != "stems"}
        (folder / "source.json").write_text(json.dumps(meta) + "\n")
    (out / "semisup.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    return out


def run_semisup(
    cfg: SemisupConfig,
    steps: int,
    run_dir: Path,
    test_split: str = "test",
    log=print,
    control: bool = False,
    score: tuple[str, ...] = (),
    carry: int = 1,
    lr: float = 3e-4,
    eval_seconds: float = 0.0,
) -> dict:
    """The whole pipeline; returns counts and the test SDR before and after fine-tuning.

    ``steps`` 0: only label, filter and write the new songs (and the label check).
    ``control``: also fine-tune the same steps on the labeled songs alone (into
    ``run_dir/control``), with as many items per step, so that the report separates the
    new data's effect from that of more training. ``score``: further ``ROOT:SPLIT`` sets
    scored before and after (the report's "sets"); the first set is the labeled test split.
    ``carry``: carried segments while fine-tuning (``DataConfig.carry_segments``).
    """
    from dataclasses import replace

    from model.separator import Separator
    from training.evaluate import EvalConfig, evaluate
    from training.semisup_sources import summarise_check, teacher, threshold_sweep
    from training.train import TrainConfig, Trainer
    from training.train_data import Corpus, DataConfig

    sep = Separator.load(cfg.weights)
    separate, labels = teacher(cfg.teacher, sep.separate, sep.sample_rate)
    pool = collect(cfg, separate, sep.sample_rate, log, stems=labels)
    counts = {s: {k: len(v) for k, v in pool[s].items()} for s in STEMS}
    labeled = Corpus(cfg.labeled, "train", max_songs=cfg.labeled_songs)
    songs = build_songs(cfg, pool, labeled, sep.sample_rate)
    write_corpus(cfg, songs, labeled.names)
    partial = build_partial(cfg, pool, labeled, sep.sample_rate)
    partial_root = Path(cfg.out) / "partial"
    write_partial(partial_root, partial)
    log(
        f"kept segments {counts}; wrote {len(songs)} new songs to {cfg.out} and "
        f"{len(partial)} partial songs to {partial_root}"
    )
    del labeled
    report = {
        "config": asdict(cfg),
        "kept": counts,
        "kept_by_source": pool["by_source"],
        "label_check": summarise_check(pool["check"]),
        "threshold_sweep": {
            src: {s: threshold_sweep(rows) for s, rows in stems.items()}
            for src, stems in pool["sweep"].items()
        },
        "new_songs": len(songs),
        "partial_songs": len(partial),
        "steps": steps,
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    if not steps:
        (run_dir / "semisup_report.json").write_text(json.dumps(report, indent=1) + "\n")
        return report
    sets = [(cfg.labeled, test_split)] + [_score_set(x) for x in score]

    def scores(weights: str | None) -> dict:
        """{ROOT:SPLIT: model summary} of ``weights`` on every scored set."""
        return {
            f"{root}:{split}": evaluate(
                EvalConfig(root, split, weights, seconds=eval_seconds, baselines=()), log
            )["summary"]["model"]
            for root, split in sets
        }

    before = scores(cfg.weights)
    pb = 2 if partial else 0
    tcfg = TrainConfig(
        model=sep.cfg,
        data=DataConfig(
            root=cfg.out,
            segment_seconds=1.0,
            batch_size=4,
            seed=cfg.seed,
            partial_root=str(partial_root) if partial else "",
            partial_batch=pb,
            carry_segments=carry,
        ),
        lr=lr,
        warmup_steps=20,
        max_steps=steps,
        valid_every=max(1, steps // 4),
    )

    def fine_tune(tcfg: TrainConfig, run: Path) -> tuple[dict, str]:
        """Fine-tune into ``run``; (scores per set, weights folder)."""
        from model.weights import resolve, save_model

        trainer = Trainer(tcfg, run, log=log, init_weights=resolve(cfg.weights))
        trainer.run()
        if trainer.interrupted:  # the user stopped it: stop the pipeline too
            raise KeyboardInterrupt
        weights = run / "best" if (run / "best").is_dir() else None
        if weights is None:
            weights = save_model(trainer.weights, run / "final", trainer.info())
        del trainer
        return scores(str(weights)), str(weights)

    after, after_weights = fine_tune(tcfg, run_dir)
    report["sets"] = {name: {"before": before[name], "after": after[name]} for name in before}
    if control:
        # The same fine-tuning on the labeled songs alone, as many items per step (the
        # partial items' places go to labeled ones): what semisup adds beyond more steps.
        plain = replace(
            tcfg,
            data=replace(
                tcfg.data,
                root=cfg.labeled,
                max_songs=cfg.labeled_songs,
                batch_size=tcfg.data.batch_size + pb,
                partial_root="",
                partial_batch=0,
            ),
        )
        control_scores, control_weights = fine_tune(plain, run_dir / "control")
        for name in before:
            report["sets"][name]["control"] = control_scores[name]
    first = f"{cfg.labeled}:{test_split}"
    report.update(before=before[first], after=after[first], weights_after=after_weights)
    if control:
        report.update(control=control_scores[first], weights_control=control_weights)
    (run_dir / "semisup_report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def _score_set(text: str) -> tuple[str, str]:
    """``ROOT:SPLIT`` -> (root, split); a bare ROOT means its test split."""
    root, _, split = text.rpartition(":")
    if not root:
        return text, "test"
    if not (Path(root) / split).is_dir():
        raise StemliveError(f"no split {split} at {root} (from --score {text})")
    return root, split
