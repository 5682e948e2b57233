"""`stemlive eval`: a model and the baselines on a MUSDB18-HQ-layout split, per stem.

The model is scored on what users hear: ``Separator.separate``, which equals
the streamed output shifted by the latency. Metrics per song and stem:
whole-track SDR, SI-SDR and cSDR (median of 1 s frames; BSSEval v4 through
museval with ``museval=True``, else the plain per-frame SDR). Aggregates:
mean over songs for SDR and SI-SDR, median for cSDR (MUSDB's convention).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from model.errors import StemliveError
from training import baselines as bl
from training.evaluate_metrics import csdr, museval_csdr, sdr, shares, si_sdr
from training.train_data import stem_file

STEMS = ("vocals", "bass", "drums", "other")
METRICS = ("sdr", "si_sdr", "csdr")
SILENT_RMS = 1e-4  # -80 dBFS: a stem this quiet over the excerpt is treated as absent


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate, on what, and how."""

    root: str
    split: str = "test"
    weights: str | None = None  # a weights folder; None: the shipped default
    max_songs: int = 0
    seconds: float = 0.0  # 0: whole songs
    museval: bool = False
    baselines: tuple[str, ...] = (
        "mixture",
        "gain_only",
        "centre_cancel",
        "hpss",
        "irm",
        "spleeter",
    )


def load_song(folder: Path, seconds: float = 0.0) -> tuple[np.ndarray, np.ndarray, int]:
    """(mixture (c, n), stems (s, c, n), sample rate) of one MUSDB-layout song folder
    (``<stem>.wav`` or ``.flac``)."""
    import soundfile as sf

    stems, sr = [], 0
    for s in STEMS:
        path = stem_file(folder, s)
        if path is None:
            raise StemliveError(f"{folder} has no {s}.wav or {s}.flac")
        try:
            x, sr = sf.read(path, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, OSError) as exc:
            raise StemliveError(f"cannot read {path}: {exc}") from None
        stems.append(x.T)
    n = min(x.shape[-1] for x in stems)
    if seconds:
        n = min(n, int(seconds * sr))
    st = np.stack([x[:, :n] for x in stems])
    # The mixture is the sum of the stems here, so every method faces the same input.
    return st.sum(0), st, sr


def estimates(
    name: str, mix: np.ndarray, stems: np.ndarray, sr: int, n_fft: int, hop: int
) -> dict[str, np.ndarray]:
    """Stem estimates of one baseline (only the stems it claims to separate)."""
    if name == "mixture":
        return {s: mix for s in STEMS}
    if name == "gain_only":
        return {s: bl.gain_only(mix, stems[i]) for i, s in enumerate(STEMS)}
    if name == "centre_cancel":
        return {"vocals": bl.centre_cancel(mix)["vocals"]}
    if name == "hpss":
        return {"drums": bl.hpss(mix, n_fft, hop)["drums"]}
    if name == "irm":
        est = bl.ideal_ratio_mask(mix, stems, n_fft, hop)
        return {s: est[i] for i, s in enumerate(STEMS)}
    if name == "spleeter":
        v = bl.spleeter_vocals(mix, sr)
        return {} if v is None else {"vocals": v}
    raise StemliveError(f"unknown baseline {name!r}")


def score(
    stems: np.ndarray, ests: dict[str, np.ndarray], sr: int, use_museval: bool
) -> dict[str, dict[str, float]]:
    """Per stem: sdr, si_sdr, csdr of the estimates given."""
    out = {}
    names = [s for s in STEMS if s in ests]
    mus = None
    if use_museval and names:
        idx = [STEMS.index(s) for s in names]
        mus = museval_csdr(stems[idx], np.stack([ests[s] for s in names]), sr)
    for j, s in enumerate(names):
        ref, est = stems[STEMS.index(s)], ests[s]
        if np.sqrt(np.mean(ref**2)) < SILENT_RMS:
            # A silent reference has no defined SDR; it would drag a mean to -60 dB.
            out[s] = {m: float("nan") for m in METRICS}
            continue
        out[s] = {
            "sdr": sdr(ref, est),
            "si_sdr": si_sdr(ref, est),
            "csdr": float(mus[j]) if mus is not None else csdr(ref, est, sr),
        }
    return out


def evaluate(cfg: EvalConfig, log=print) -> dict:
    """Scores of the model and every baseline: {method: {stem: {metric: value}}} + per song."""
    from model.separator import Separator

    folder = Path(cfg.root) / cfg.split
    if not folder.is_dir():
        raise StemliveError(f"no {cfg.split} split at {folder} (MUSDB18-HQ layout expected)")
    songs = sorted(p for p in folder.iterdir() if stem_file(p, "vocals"))
    if cfg.max_songs:
        songs = songs[: cfg.max_songs]
    if not songs:
        raise StemliveError(f"{folder} holds no song folder with stems")
    sep = Separator.load(cfg.weights)
    per_song: dict[str, dict] = {}
    for k, song in enumerate(songs):
        mix, stems, sr = load_song(song, cfg.seconds)
        if sr != sep.sample_rate:
            raise StemliveError(f"{song} is at {sr} Hz, the model at {sep.sample_rate} Hz")
        out = sep.separate(mix)
        res = {"model": score(stems, {s: out[i] for i, s in enumerate(sep.stems)}, sr, cfg.museval)}
        for i, s in enumerate(sep.stems):  # the model's order; ``stems`` is in STEMS order
            if s in res["model"] and np.isfinite(res["model"][s]["sdr"]):
                coef, db = shares(stems, out[i], STEMS.index(s))
                res["model"][s]["own_coef"] = float(coef[STEMS.index(s)])
                res["model"][s].update({f"from_{t}_db": float(db[j]) for j, t in enumerate(STEMS)})
        for name in cfg.baselines:
            ests = estimates(name, mix, stems, sr, sep.n_fft, sep.hop)
            if ests:
                res[name] = score(stems, ests, sr, cfg.museval)
        per_song[song.name] = res
        log(
            f"{k + 1}/{len(songs)} {song.name}: model SDR "
            + " ".join(f"{s} {v['sdr']:.2f}" for s, v in res["model"].items())
        )
    return {
        "config": asdict(cfg),
        "model_info": _info(sep),
        "summary": summarise(per_song),
        "songs": per_song,
    }


def _info(sep) -> dict:
    keep = ("trained", "steps", "time", "data", "sha256", "path")
    return {k: sep.info.get(k) for k in keep if k in sep.info}


def summarise(per_song: dict[str, dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean over songs of sdr, si_sdr and the shares, median of csdr, per method and stem."""
    methods: dict[str, dict[str, dict[str, list[float]]]] = {}
    for res in per_song.values():
        for m, stems in res.items():
            for s, vals in stems.items():
                for metric, v in vals.items():
                    methods.setdefault(m, {}).setdefault(s, {}).setdefault(metric, []).append(v)
    agg = {"sdr": np.nanmean, "si_sdr": np.nanmean, "csdr": np.nanmedian}
    return {
        m: {
            s: {k: float(agg.get(k, np.nanmean)(v)) for k, v in d.items()} for s, d in stems.items()
        }
        for m, stems in methods.items()
    }


def table(summary: dict, metric: str = "sdr") -> str:
    """A markdown table: methods as rows, stems as columns."""
    lines = [f"| {metric} (dB) | " + " | ".join(STEMS) + " | mean |", "|---" * 6 + "|"]
    for m, stems in summary.items():
        vals = [stems.get(s, {}).get(metric) for s in STEMS]
        cells = ["" if v is None else f"{v:.2f}" for v in vals]
        mean = f"{np.mean(vals):.2f}" if all(v is not None for v in vals) else ""
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(lines)


def shares_table(model: dict[str, dict[str, float]]) -> str:
    """Markdown: what each estimated stem holds of each true stem (dB, mean over songs)."""
    lines = [
        "| model's estimate | " + " | ".join(f"{t} in it (dB)" for t in STEMS) + " | own coef |",
        "|---" * 6 + "|",
    ]
    for s in STEMS:
        if "own_coef" in model.get(s, {}):
            cells = [f"{model[s][f'from_{t}_db']:.1f}" for t in STEMS]
            lines.append(f"| {s} | " + " | ".join(cells) + f" | {model[s]['own_coef']:.2f} |")
    return "\n".join(lines)


def bar_chart(summary: dict, path: Path, metric: str = "sdr") -> bool:
    """Grouped bars: per stem, one bar per method. False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    methods = list(summary)
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(10, 4))
    for j, m in enumerate(methods):
        xs = [i + j * width for i, s in enumerate(STEMS) if s in summary[m]]
        ys = [summary[m][s][metric] for s in STEMS if s in summary[m]]
        ax.bar(xs, ys, width, label=m)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(STEMS))], STEMS)
    ax.set_ylabel(f"{metric} (dB)")
    ax.axhline(0, color="black", lw=0.5)
    ax.legend(fontsize=8, ncol=4)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def write_report(result: dict, out: Path) -> None:
    """eval.json, eval.md (tables) and eval_sdr.png into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(result, indent=1) + "\n")
    md = "\n\n".join(table(result["summary"], m) for m in METRICS)
    (out / "eval.md").write_text(md + "\n\n" + shares_table(result["summary"]["model"]) + "\n")
    bar_chart(result["summary"], out / "eval_sdr.png")
