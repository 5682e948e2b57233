"""Real read speech made to sing: more real voices for training than MIR-1K's 19 singers.

Each utterance is given a melody with Praat's PSOLA (``praat-parselmouth``): its pitch
contour is replaced by the notes of a random scale and key in a range around the speaker's
own register, one note per syllable (voiced stretches split at intensity dips), with
vibrato (4.5-6.5 Hz, delayed onset), glides between notes and scoops into phrases; vowels
are held (the syllable's core lengthened 1.3-2.5x by a duration tier) while consonants keep
their length. Each variant also moves the formants (reading the samples at another rate,
a longer or shorter vocal tract), so one speaker gives several voices. Clips are written as
``OUT/train/<utterance>_v<k>/vocals.wav`` (44.1 kHz mono 16-bit, no ``backing.wav``: see
``training.real_vocals.VocalCorpus``).

Axes: n sample; times are seconds of the (formant-shifted) source unless named ``out``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.errors import StemliveError

SAMPLE_RATE = 44100
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "major pentatonic": (0, 2, 4, 7, 9),
    "minor pentatonic": (0, 3, 5, 7, 10),
}
PITCH_FLOOR, PITCH_CEILING = 60.0, 700.0
STEP = 0.0025  # pitch and time grid of the source, s
AUDIO_EXTENSIONS = (".opus", ".wav", ".flac", ".ogg")
# Scale-degree steps of the melody: mostly steps, some repeats, few leaps.
MOVES = (-2, -1, 0, 1, 2, -3, 3, -4, 4)
MOVE_P = (0.14, 0.26, 0.12, 0.26, 0.1, 0.04, 0.04, 0.02, 0.02)


@dataclass
class Sung:
    """A sung utterance: audio (n,) at 44.1 kHz and the melody it was given, in output time."""

    audio: np.ndarray
    target_times: np.ndarray  # (m,) s of the output
    target_hz: np.ndarray  # (m,) the melody with vibrato and glides; NaN where unvoiced
    info: dict


def _midi(hz: np.ndarray | float) -> np.ndarray | float:
    return 69 + 12 * np.log2(np.asarray(hz) / 440.0)


def _hz(midi: np.ndarray | float) -> np.ndarray | float:
    return 440.0 * 2 ** ((np.asarray(midi) - 69) / 12)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of a boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def syllables(
    times: np.ndarray, voiced: np.ndarray, intensity_db: np.ndarray
) -> list[list[tuple[float, float]]]:
    """Voiced stretches (>= 40 ms) split at intensity dips into syllable-like (start, end) pieces.

    ``times``, ``voiced``, ``intensity_db``: (t,) frames. Returns one list per voiced stretch,
    so that a phrase's last syllable can be held longer.
    """
    dt = float(times[1] - times[0])
    out = []
    for a, b in _runs(voiced):
        if (b - a) * dt < 0.04:
            continue
        level = np.convolve(intensity_db[a:b], np.ones(3) / 3, mode="same")
        cuts = [a]
        for i in range(1, b - a - 1):
            if level[i] < level[i - 1] and level[i] <= level[i + 1]:
                # a dip of 2 dB below the peaks on both sides, pieces of at least 80 ms
                if (
                    level[: i + 1].max() - level[i] > 2
                    and level[i:].max() - level[i] > 2
                    and (a + i - cuts[-1]) * dt >= 0.08
                    and (b - a - i) * dt >= 0.08
                ):
                    cuts.append(a + i)
        cuts.append(b)
        pieces = []
        for s, e in zip(cuts[:-1], cuts[1:], strict=True):
            # a long piece (a drawn-out vowel or a missed dip) gets a note every ~0.45 s
            k = max(1, int(round((e - s) * dt / 0.45)))
            edges = np.linspace(s, e, k + 1)
            pieces += [(float(times[0] + x * dt - dt / 2), float(times[0] + y * dt - dt / 2))
                       for x, y in zip(edges[:-1], edges[1:], strict=True)]  # fmt: skip
        out.append(pieces)
    return out


def melody(rng: np.random.Generator, count: int, low: float, high: float) -> tuple[list[int], dict]:
    """``count`` MIDI notes of a random scale and key between ``low`` and ``high``: mostly
    steps, some leaps and repeats."""
    name = str(rng.choice(list(SCALES)))
    tonic = int(rng.integers(12))
    keys = [k for k in range(int(np.ceil(low)), int(np.floor(high)) + 1)
            if (k - tonic) % 12 in SCALES[name]]  # fmt: skip
    if len(keys) < 3:
        raise StemliveError(f"a range of {low:.1f}-{high:.1f} holds too few notes of a scale")
    i = int(rng.integers(len(keys) // 4, max(len(keys) // 4 + 1, 3 * len(keys) // 4)))
    notes = []
    for _ in range(count):
        notes.append(keys[i])
        move = rng.choice(MOVES, p=MOVE_P)
        i = int(np.clip(i + move, 0, len(keys) - 1))
    return notes, {"scale": name, "tonic": tonic}


def _time_map(points: list[tuple[float, float]], grid: np.ndarray) -> np.ndarray:
    """Output time at each source time of ``grid`` under a duration tier (relative durations
    linear between points and constant outside them, as Praat interpolates a DurationTier)."""
    t, d = np.array(points).T
    rel = np.interp(grid, t, d)
    steps = np.diff(grid) * (rel[1:] + rel[:-1]) / 2
    return np.concatenate([[grid[0] * rel[0]], grid[0] * rel[0] + np.cumsum(steps)])


def sing(
    x: np.ndarray, sample_rate: int, rng: np.random.Generator, formant_ratio: float = 1.0
) -> Sung:
    """Speech (n,) float at ``sample_rate`` sung on a random melody; see the module doc."""
    import parselmouth
    import soxr
    from parselmouth.praat import call

    # Reading the samples at a higher rate raises formants (and pitch, replaced anyway);
    # the duration tier's base factor gives back the original tempo.
    rate = sample_rate * formant_ratio
    snd = parselmouth.Sound(np.asarray(x, np.float64), rate)
    pitch = snd.to_pitch_ac(time_step=0.01, pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEILING)
    f0 = pitch.selected_array["frequency"]
    times = pitch.xs()
    voiced = f0 > 0
    if voiced.sum() < 10:
        raise StemliveError("no voiced speech found (fewer than 10 voiced frames)")
    inten = snd.to_intensity(PITCH_FLOOR)
    level = np.interp(times, inten.xs(), inten.values[0])
    phrases = syllables(times, voiced, level)
    count = sum(len(p) for p in phrases)

    # The range: the speaker's register, sung a little higher, an octave and a bit wide.
    speech = float(np.median(_midi(f0[voiced])))
    centre = speech + rng.uniform(-2, 8)
    width = rng.uniform(8, 14)
    notes, key = melody(rng, count, centre - width / 2, centre + width / 2)
    vib_rate = rng.uniform(4.5, 6.5)
    vib_cents = rng.uniform(20, 70)
    vib_delay = rng.uniform(0.12, 0.35)
    glide = rng.uniform(0.03, 0.1)  # portamento between notes of one phrase, s of output
    scoop_cents = rng.uniform(30, 150)

    # Duration tier: consonants and pauses at the base factor, each syllable's core held.
    base = formant_ratio
    tier = [(0.0, base)]
    holds = []
    for phrase in phrases:
        for j, (s, e) in enumerate(phrase):
            hold = rng.uniform(1.3, 2.5) * (rng.uniform(1.0, 1.5) if j == len(phrase) - 1 else 1)
            holds.append(hold)
            edge = 0.2 * (e - s)
            tier += [(s, base), (s + edge, base * hold), (e - edge, base * hold), (e, base)]
    grid = np.arange(0.0, snd.duration + STEP, STEP)
    out_time = _time_map(tier, grid)

    # The melody on the source grid, computed in output time (vibrato and glides are heard
    # there, whatever a syllable's stretch).
    target = np.full(len(grid), np.nan)
    k = 0
    previous = None
    for phrase in phrases:
        for j, (s, e) in enumerate(phrase):
            lo, hi = s - 0.03 if j == 0 else s, e + 0.03 if j == len(phrase) - 1 else e
            sel = (grid >= lo) & (grid < hi)
            t = out_time[sel] - np.interp(s, grid, out_time)  # output seconds into the note
            cents = np.zeros(len(t))
            if j == 0 or previous is None:  # a scoop into the phrase
                cents -= scoop_cents * np.clip(1 - np.maximum(t, 0) / 0.12, 0, 1)
            else:  # portamento from the note before
                cents += (previous - notes[k]) * 100 * np.clip(1 - np.maximum(t, 0) / glide, 0, 1)
            onset = np.clip((t - vib_delay) / 0.25, 0, 1)
            cents += vib_cents * onset * np.sin(2 * np.pi * vib_rate * np.maximum(t - vib_delay, 0))
            target[sel] = _hz(notes[k] + cents / 100)
            previous = notes[k]
            k += 1

    manip = call(snd, "To Manipulation", 0.01, PITCH_FLOOR, PITCH_CEILING)
    ptier = call("Create PitchTier", "melody", 0.0, snd.duration)
    for t, f in zip(grid[~np.isnan(target)], target[~np.isnan(target)], strict=True):
        call(ptier, "Add point", float(t), float(f))
    dtier = call("Create DurationTier", "hold", 0.0, snd.duration)
    for t, d in tier:
        call(dtier, "Add point", float(t), float(d))
    call([manip, ptier], "Replace pitch tier")
    call([manip, dtier], "Replace duration tier")
    out = call(manip, "Get resynthesis (overlap-add)")
    y = soxr.resample(out.values[0], rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    info = {
        **key, "notes": count,
        "range_midi": [round(centre - width / 2, 1), round(centre + width / 2, 1)],
        "speech_median_midi": round(speech, 1), "formant_ratio": round(formant_ratio, 3),
        "vibrato_hz": round(vib_rate, 2), "vibrato_cents": round(vib_cents, 1),
        "hold_mean": round(float(np.mean(holds)), 2),
    }  # fmt: skip
    return Sung(y, out_time, target, info)


def f0_accuracy(sung: Sung, tolerance_cents: float = 50.0) -> tuple[float, int]:
    """(share of frames within ``tolerance_cents`` of the melody, frames compared): frames
    where Praat hears a pitch in the output and the melody is defined."""
    import parselmouth

    snd = parselmouth.Sound(sung.audio.astype(np.float64), SAMPLE_RATE)
    pitch = snd.to_pitch_ac(time_step=0.01, pitch_floor=PITCH_FLOOR, pitch_ceiling=1000)
    f0 = pitch.selected_array["frequency"]
    want = np.interp(pitch.xs(), sung.target_times, sung.target_hz)  # NaN spreads: unvoiced
    ok = (f0 > 0) & np.isfinite(want)
    if not ok.any():
        return 0.0, 0
    cents = 1200 * np.abs(np.log2(f0[ok] / want[ok]))
    return float(np.mean(cents < tolerance_cents)), int(ok.sum())


def _read(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, OSError) as exc:
        raise StemliveError(f"cannot read {path}: {exc}") from None
    return x.mean(axis=1), sr


def make_sung_speech(
    src: str | Path,
    dst: str | Path,
    variants: int = 2,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Sing every utterance under ``src`` ``variants`` times into ``dst/train/``.

    Resumable (finished clips are kept); each clip depends only on its utterance, its
    variant and ``seed``. Returns counts and seconds read and written.
    """
    import soundfile as sf

    src, dst = Path(src), Path(dst)
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise StemliveError(f"{src} holds no speech file ({', '.join(AUDIO_EXTENSIONS)})")
    if variants < 1:
        raise StemliveError(f"--variants must be at least 1, got {variants}")
    stats = {"utterances": 0, "clips": 0, "skipped": 0, "seconds_in": 0.0, "seconds_out": 0.0}
    for i, path in enumerate(files):
        x, sr = _read(path)
        stats["utterances"] += 1
        stats["seconds_in"] += len(x) / sr
        for v in range(variants):
            out = dst / "train" / f"{path.stem}_v{v}"
            if (out / "vocals.wav").is_file():
                continue
            rng = np.random.default_rng([seed, i, v])
            # variant 0 keeps the speaker's formants; others move them up to -12/+15 %
            ratio = 1.0 if v == 0 else float(np.exp(rng.uniform(np.log(0.88), np.log(1.15))))
            try:
                sung = sing(x, sr, rng, ratio)
            except StemliveError as exc:
                log(f"{path.name}: skipped ({exc})")
                stats["skipped"] += 1
                continue
            y = sung.audio * (0.5 / (np.max(np.abs(sung.audio)) + 1e-9))
            tmp = out.with_name(out.name + ".part")
            tmp.mkdir(parents=True, exist_ok=True)
            sf.write(tmp / "vocals.wav", y, SAMPLE_RATE, "PCM_16")
            (tmp / "info.json").write_text(
                json.dumps({"source": path.name, "variant": v, **sung.info}, indent=1) + "\n"
            )
            tmp.rename(out)
            stats["clips"] += 1
            stats["seconds_out"] += len(y) / SAMPLE_RATE
        if (i + 1) % 20 == 0:
            log(f"{i + 1}/{len(files)} utterances sung")
    return stats


def report(src: str | Path, out_png: str | Path, count: int = 20, seed: int = 0) -> dict:
    """Sing the first ``count`` utterances under ``src`` (each variant's formants), measure
    how closely the output's F0 follows the melody and the speed, and draw the first one:
    spectrograms of speech and song with the melody and the measured F0."""
    import time

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import parselmouth

    files = sorted(p for p in Path(src).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    shares, frames, seconds_in, seconds_out, wall = [], 0, 0.0, 0.0, 0.0
    first = None
    for i, path in enumerate(files[:count]):
        x, sr = _read(path)
        for v, ratio in enumerate((1.0, 0.9, 1.12)):
            start = time.process_time()
            sung = sing(x, sr, np.random.default_rng([seed, i, v]), ratio)
            wall += time.process_time() - start
            share, m = f0_accuracy(sung)
            shares.append(share)
            frames += m
            seconds_in += len(x) / sr
            seconds_out += len(sung.audio) / SAMPLE_RATE
            if first is None:
                first = (x, sr, sung, path.name)
    x, sr, sung, name = first
    fig, axes = plt.subplots(3, 1, figsize=(9, 9))
    info = sung.info
    sung_title = (
        f"sung: {info['scale']}, tonic {info['tonic']}, vibrato {info['vibrato_hz']} Hz "
        f"{info['vibrato_cents']} cents, holds x{info['hold_mean']}"
    )
    for ax, audio, rate, title in (
        (axes[0], x, sr, f"speech: {name}"),
        (axes[1], sung.audio, SAMPLE_RATE, sung_title),
    ):
        ax.specgram(audio, NFFT=2048, Fs=rate, noverlap=2048 - 256, cmap="magma", vmin=-120)
        pitch = parselmouth.Sound(np.asarray(audio, np.float64), rate).to_pitch_ac(
            time_step=0.01, pitch_floor=PITCH_FLOOR, pitch_ceiling=1000
        )
        f0 = pitch.selected_array["frequency"]
        ax.plot(pitch.xs()[f0 > 0], f0[f0 > 0], ".", ms=2, color="cyan", label="F0 measured")
        ax.set_ylim(0, 2000)
        ax.set_ylabel("Hz")
        ax.set_title(title, fontsize=9)
    axes[1].plot(sung.target_times, sung.target_hz, color="white", lw=0.8, label="melody")
    axes[1].legend(loc="upper right", fontsize=7)
    pitch = parselmouth.Sound(sung.audio.astype(np.float64), SAMPLE_RATE).to_pitch_ac(
        time_step=0.01, pitch_floor=PITCH_FLOOR, pitch_ceiling=1000
    )
    f0 = pitch.selected_array["frequency"]
    axes[2].plot(sung.target_times, _midi(sung.target_hz), color="k", lw=0.8, label="melody")
    axes[2].plot(pitch.xs()[f0 > 0], _midi(f0[f0 > 0]), ".", ms=3, color="C1", label="measured")
    axes[2].set_ylabel("MIDI note")
    axes[2].set_xlabel("s")
    axes[2].legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    result = {
        "clips": len(shares), "frames": frames, "f0_within_50_cents_mean": float(np.mean(shares)),
        "f0_within_50_cents_min": float(np.min(shares)), "seconds_in": seconds_in,
        "seconds_out": seconds_out, "cpu_seconds": wall,
        "x_real_time_of_output": seconds_out / wall,
    }  # fmt: skip
    return result


if __name__ == "__main__":  # python -m training.sung_speech SPEECH_DIR OUT.png [COUNT]
    import sys

    count = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    print(json.dumps(report(sys.argv[1], sys.argv[2], count), indent=1))
