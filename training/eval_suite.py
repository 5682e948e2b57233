"""`stemlive eval --suite`: one model on every test set we have, seen and unseen sources
side by side, so that no number is read without the others.

Sets (each a MUSDB18-HQ-layout split; a missing one is an error that says how to make it):
- ``seen``: the generated test split (``data/gen``): the generator's own sources.
- ``unseen``: songs from sources training never used (``training.unseen``).
- ``mir1k``: held-out real singers over their real backing; scored on vocals and on the
  accompaniment (the sum of the other estimates against the backing).
- ``real``: the real 4-stem clip (Falcon 69, ``stemlive data real``).
- ``instrumental``: real songs with no voice; scored on how loud the vocals estimate is.
- ``subbass``: the unseen songs with every bass made a sub bass (``augment.sub_bass`` at
  100 Hz: little but the fundamental, as an 808 or a synth sub), made from ``unseen`` in
  the output folder: a pure low sine must stay bass, not turn into kick drum.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.errors import StemliveError

STEMS = ("vocals", "bass", "drums", "other")


@dataclass(frozen=True)
class SuiteSet:
    key: str
    title: str
    root: str
    split: str
    make: str  # the command that makes it


SETS = (
    SuiteSet("seen", "generated test split (seen sources)", "data/gen", "test",
             "python -m training.train_corpus data/gen 360 2"),
    SuiteSet("unseen", "unseen sources (MuseScore SoundFont, 4 held-out MIR-1K singers)",
             "data/unseen", "test", "stemlive data unseen --mir1k data/mir1k"),
    SuiteSet("mir1k", "real singers over their real backing (MIR-1K, held-out singers)",
             "data/mir1k_real", "test", "stemlive data unseen --mir1k data/mir1k"),
    SuiteSet("real", "real 4-stem clip (Falcon 69)", "data/real", "test",
             "stemlive data real --out data/real"),
    SuiteSet("instrumental", "real instrumentals, no vocals (2 held-out Frets on Fire songs)",
             "data/real", "unlabeled", "stemlive data real --out data/real"),
    SuiteSet("subbass", "unseen sources, sub basses (their fundamental alone)",
             "data/unseen", "test", "stemlive data unseen --mir1k data/mir1k"),
)  # fmt: skip


def _vocal_leak(folder: Path, weights: str | None, seconds: float) -> dict[str, float]:
    """On real songs with no voice: the vocals estimate's level against the mixture (dB,
    mean over songs; lower is better; the accompaniment's SDR there is its negative)."""
    import soundfile as sf

    from model.separator import Separator
    from training.real_vocals import HELD_OUT_SONGS

    sep = Separator.load(weights)
    v = sep.stems.index("vocals")
    leak = []
    for name in HELD_OUT_SONGS:
        path = folder / name / "mixture.wav"
        if not path.is_file():
            raise StemliveError(f"no {path}: make it with `stemlive data real --out data/real`")
        frames = int(seconds * sf.info(path).samplerate) if seconds else -1
        mix = sf.read(path, dtype="float32", always_2d=True, frames=frames)[0].T
        out = sep.separate(mix)
        leak.append(10 * np.log10(np.mean(out[v] ** 2) / np.mean(mix**2)))
    return {"vocal_leak_db": float(np.mean(leak)), "songs": list(HELD_OUT_SONGS)}


def _accompaniment_sdr(folder: Path, weights: str | None, seconds: float) -> dict[str, float]:
    """Vocals and accompaniment SDR (mean over songs) where only those two are known."""
    from model.separator import Separator
    from training.evaluate import load_song
    from training.evaluate_metrics import sdr

    sep = Separator.load(weights)
    v = sep.stems.index("vocals")
    scores: dict[str, list[float]] = {"vocals": [], "accompaniment": [], "mix_vocals": []}
    for song in sorted(p for p in folder.iterdir() if (p / "vocals.wav").is_file()):
        mix, stems, _ = load_song(song, seconds)
        out = sep.separate(mix)
        voc = stems[STEMS.index("vocals")]
        scores["vocals"].append(sdr(voc, out[v]))
        scores["accompaniment"].append(sdr(mix - voc, out.sum(0) - out[v]))
        scores["mix_vocals"].append(sdr(voc, mix))
    return {k: float(np.mean(x)) for k, x in scores.items()}


SUB_BASS_HZ = 100.0


def _sub_bass_songs(src: Path, dst: Path) -> None:
    """``src``'s songs with every bass stem low-passed to its fundamental (the other stems
    linked), in ``dst``."""
    import soundfile as sf

    from training.augment import sub_bass
    from training.train_data import stem_file

    songs = sorted(p for p in src.iterdir() if p.is_dir())
    if not songs:
        raise StemliveError(f"no songs in {src}")
    for song in songs:
        out = dst / song.name
        out.mkdir(parents=True, exist_ok=True)
        for s in STEMS:
            path = stem_file(song, s)
            if path is None:
                raise StemliveError(f"{song} has no {s}.wav or {s}.flac")
            target = out / path.name
            target.unlink(missing_ok=True)
            if s != "bass":
                target.symlink_to(path.resolve())
                continue
            x, sr = sf.read(path, dtype="float32", always_2d=True)
            sf.write(target, sub_bass(x.T, sr, SUB_BASS_HZ).T, sr, subtype="FLOAT")


def run_suite(
    weights: str | None, out: Path, sets: tuple[str, ...] = (), seconds: float = 0.0, log=print
) -> dict:
    """Evaluate on every set (or those named in ``sets``); writes suite.json and suite.md."""
    from training.evaluate import EvalConfig, evaluate

    chosen = [s for s in SETS if not sets or s.key in sets]
    for s in chosen:
        if not (Path(s.root) / s.split).is_dir():
            raise StemliveError(f"no {s.title} at {s.root}/{s.split}: make it with `{s.make}`")
    result: dict[str, dict] = {}
    for s in chosen:
        log(f"-- {s.key}: {s.title}")
        baselines = ("mixture", "gain_only")
        root = s.root
        if s.key == "subbass":
            root = str(out / "subbass")
            _sub_bass_songs(Path(s.root) / s.split, Path(root) / s.split)
        cfg = EvalConfig(root, s.split, weights, seconds=seconds, baselines=baselines)
        if s.key == "mir1k":
            result[s.key] = _accompaniment_sdr(Path(s.root) / s.split, weights, seconds)
        elif s.key == "instrumental":
            result[s.key] = _vocal_leak(Path(s.root) / s.split, weights, seconds or 60.0)
        else:
            summary = evaluate(cfg, log=log)["summary"]
            result[s.key] = {m: {k: v["sdr"] for k, v in summary[m].items()} for m in summary}
    out.mkdir(parents=True, exist_ok=True)
    (out / "suite.json").write_text(json.dumps({"weights": weights, "sets": result}, indent=1))
    (out / "suite.md").write_text(suite_table(result) + "\n")
    return result


def suite_table(result: dict) -> str:
    """Markdown: per set the model's SDR per stem and mean, and its margin over gain-only."""
    lines = [
        "| set | vocals | bass | drums | other | mean | over gain-only (v/b/d/o) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in SETS:
        if s.key not in result:
            continue
        r = result[s.key]
        if s.key == "mir1k":
            lines.append(
                f"| {s.title} | {r['vocals']:.2f} | accompaniment {r['accompaniment']:.2f} "
                f"| | | | vocals over the mixture: {r['vocals'] - r['mix_vocals']:+.2f} |"
            )
            continue
        if s.key == "instrumental":
            lines.append(
                f"| {s.title} | vocals estimate at {r['vocal_leak_db']:.1f} dB of the mixture "
                "(lower is better) | | | | | |"
            )
            continue
        m, g = r["model"], r.get("gain_only", {})
        cells = [f"{m[k]:.2f}" for k in STEMS]
        margin = "/".join(f"{m[k] - g[k]:+.1f}" for k in STEMS) if g else ""
        mean = np.mean([m[k] for k in STEMS])
        lines.append(f"| {s.title} | " + " | ".join(cells) + f" | {mean:.2f} | {margin} |")
    return "\n".join(lines)
