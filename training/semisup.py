"""`stemlive semisup`: the BSRNN paper's semi-supervised pipeline, for a four-stem model.

1. A trained model separates unlabeled mixtures: per stem, a target estimate
   and the residual (mixture minus target).
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
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")


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


def _unlabeled_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise StemliveError(f"unlabeled folder {folder} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    musdb = [p for p in files if p.name == "mixture.wav"]
    files = musdb or files  # in a MUSDB layout, only the mixtures are "unlabeled"
    if not files:
        raise StemliveError(f"{folder} holds no audio file ({', '.join(AUDIO_SUFFIXES)})")
    return files


def collect(cfg: SemisupConfig, separate, sample_rate: int, log=print) -> dict:
    """Run ``separate`` ((c, n) -> (s, c, n)) over the unlabeled files and filter.

    Returns {stem: {"target": [(c, seg) arrays], "residual": [...]}, "sources": [...]}.
    """
    import soundfile as sf

    seg = int(cfg.segment_seconds * sample_rate)
    pool: dict = {s: {"target": [], "residual": []} for s in STEMS}
    pool["sources"] = []
    for path in _unlabeled_files(Path(cfg.unlabeled)):
        try:
            audio, sr = sf.read(path, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, OSError) as exc:
            raise StemliveError(f"cannot read {path}: {exc}") from None
        if sr != sample_rate:
            raise StemliveError(f"{path} is at {sr} Hz; resample it to {sample_rate} Hz first")
        mix = audio.T[:2] if audio.shape[1] >= 2 else np.repeat(audio.T, 2, 0)
        est = separate(mix)
        counts = {}
        for i, s in enumerate(STEMS):
            kept = energy_filter(est[i], mix - est[i], seg, cfg.threshold_db, cfg.floor_db)
            for start, kind in kept:
                src = est[i] if kind == "target" else mix - est[i]
                pool[s][kind].append(src[:, start : start + seg].copy())
            counts[s] = {k: sum(1 for _, kk in kept if kk == k) for k in ("target", "residual")}
        pool["sources"].append({"file": str(path), "kept": counts})
        log(
            f"{path.name}: kept "
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
) -> dict:
    """The whole pipeline; returns counts and the test SDR before and after fine-tuning.

    ``control``: also fine-tune the same steps on the labeled songs alone (into
    ``run_dir/control``), so that the report separates the new data's effect from
    that of more training.
    """
    from dataclasses import replace

    from model.separator import Separator
    from training.evaluate import EvalConfig, evaluate
    from training.train import TrainConfig, Trainer
    from training.train_data import Corpus, DataConfig

    sep = Separator.load(cfg.weights)
    pool = collect(cfg, sep.separate, sep.sample_rate, log)
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
    test = EvalConfig(root=cfg.labeled, split=test_split, weights=cfg.weights, baselines=())
    before = evaluate(test, log)["summary"]["model"]
    tcfg = TrainConfig(
        model=sep.cfg,
        data=DataConfig(
            root=cfg.out,
            segment_seconds=1.0,
            batch_size=4,
            seed=cfg.seed,
            partial_root=str(partial_root) if partial else "",
            partial_batch=2 if partial else 0,
        ),
        lr=3e-4,
        warmup_steps=20,
        max_steps=steps,
        valid_every=max(1, steps // 4),
    )

    def fine_tune(tcfg: TrainConfig, run: Path) -> tuple[dict, str]:
        """Fine-tune into ``run``; (test scores, weights folder)."""
        from model.weights import resolve, save_model

        trainer = Trainer(tcfg, run, log=log, init_weights=resolve(cfg.weights))
        trainer.run()
        if trainer.interrupted:  # the user stopped it: stop the pipeline too
            raise KeyboardInterrupt
        weights = run / "best" if (run / "best").is_dir() else None
        if weights is None:
            weights = save_model(trainer.weights, run / "final", trainer.info())
        del trainer
        scores = evaluate(replace(test, weights=str(weights)), log)["summary"]["model"]
        return scores, str(weights)

    after, after_weights = fine_tune(tcfg, run_dir)
    if control:
        # The same fine-tuning on the labeled songs alone: what semisup adds beyond more steps.
        plain = replace(
            tcfg,
            data=replace(
                tcfg.data,
                root=cfg.labeled,
                max_songs=cfg.labeled_songs,
                partial_root="",
                partial_batch=0,
            ),
        )
        control_scores, control_weights = fine_tune(plain, run_dir / "control")
    report = {
        "config": asdict(cfg),
        "kept": counts,
        "new_songs": len(songs),
        "partial_songs": len(partial),
        "steps": steps,
        "before": before,
        "after": after,
        "weights_after": after_weights,
    }
    if control:
        report["control"] = control_scores
        report["weights_control"] = control_weights
    (run_dir / "semisup_report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
