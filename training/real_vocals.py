"""Real singing for training and testing: MIR-1K voices, split by singer, given what records
give a vocal (EQ, compression, air above 8 kHz, doubling, harmonies, reverb, delay).

MIR-1K (``../shared/data/mir1k`` or any copy with ``vocals/`` and ``backing/`` Opus or WAV
clips named ``<singer>_<song>_<clip>``) is converted once by :func:`prepare_mir1k` into
``DST/{train,valid,test}/<clip>/{vocals,backing}.wav``: 44.1 kHz mono 16-bit, so that the
training loader memory-maps it like the generated corpus.

Axes: c channel, n sample.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from model.errors import StemliveError
from training.synth import effects as fx

SAMPLE_RATE = 44100
# Split by singer, so that validation and test hear voices never trained on. Held out:
# 2 singers for validation (checkpoint choice), 4 for the test split (reported numbers).
VALID_SINGERS = ("abjones", "tammy")
TEST_SINGERS = ("Ani", "bug", "heycat", "khair")


def rms(x: np.ndarray) -> float:
    """Root mean square of a signal (float64 accumulation)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def singer_of(clip: str) -> str:
    return clip.split("_")[0]


def split_of(clip: str) -> str:
    singer = singer_of(clip)
    if singer in TEST_SINGERS:
        return "test"
    if singer in VALID_SINGERS:
        return "valid"
    return "train"


def _read_resampled(path: Path, sample_rate: int) -> np.ndarray:
    """A mono clip as float32 (n,) at ``sample_rate``."""
    import soundfile as sf
    import soxr

    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, OSError) as exc:
        raise StemliveError(f"cannot read {path}: {exc}") from None
    x = x.mean(axis=1)
    if sr != sample_rate:
        x = soxr.resample(x, sr, sample_rate, quality="HQ").astype(np.float32)
    return x


def prepare_mir1k(
    src: str | Path,
    dst: str | Path,
    log: Callable[[str], None] = print,
    splits: tuple[str, ...] = ("train", "valid", "test"),
) -> dict[str, int]:
    """Convert MIR-1K's clips under ``src`` (those of ``splits``) into the training layout
    under ``dst``. Resumable (finished clips are kept). Returns clips per split.
    """
    src, dst = Path(src), Path(dst)
    vocal_dir, backing_dir = src / "vocals", src / "backing"
    if not vocal_dir.is_dir() or not backing_dir.is_dir():
        raise StemliveError(
            f"{src} is not a MIR-1K folder: expected {vocal_dir}/ and {backing_dir}/ "
            "holding <singer>_<song>_<clip>.opus (or .wav) files"
        )
    clips = sorted(p for p in vocal_dir.iterdir() if p.suffix in (".opus", ".wav", ".flac"))
    if not clips:
        raise StemliveError(f"{vocal_dir} holds no .opus, .wav or .flac clip")
    import soundfile as sf

    counts = {"train": 0, "valid": 0, "test": 0}
    for i, path in enumerate(clips):
        split = split_of(path.stem)
        if split not in splits:
            continue
        counts[split] += 1
        out = dst / split / path.stem
        if (out / "backing.wav").is_file():
            continue
        backing_path = backing_dir / path.name
        if not backing_path.is_file():
            raise StemliveError(f"{path} has no backing track {backing_path}")
        voice = _read_resampled(path, SAMPLE_RATE)
        backing = _read_resampled(backing_path, SAMPLE_RATE)
        n = min(len(voice), len(backing))
        tmp = out.with_name(out.name + ".part")
        tmp.mkdir(parents=True, exist_ok=True)
        for name, x in (("vocals", voice), ("backing", backing)):
            sf.write(tmp / f"{name}.wav", np.clip(x[:n], -1, 1), SAMPLE_RATE, "PCM_16")
        tmp.rename(out)
        if (i + 1) % 100 == 0:
            log(f"{i + 1}/{len(clips)} clips converted")
    (dst / "mir1k.json").write_text(
        json.dumps(
            {"source": str(src), "valid_singers": VALID_SINGERS, "test_singers": TEST_SINGERS,
             "clips": counts}, indent=2,
        )
        + "\n"
    )  # fmt: skip
    return counts


class VocalCorpus:
    """The clips of one split of one or more folders: per clip (vocals (n,), backing (n,) or
    None) int16, memory-mapped. A clip without ``backing.wav`` (sung speech) is a voice
    alone: it can replace a generated vocal but never stands over a real backing."""

    def __init__(self, root: str | Path | list[str | Path], split: str) -> None:
        from training.train_data import _read_int16

        roots = [root] if isinstance(root, (str, Path)) else list(root)
        self.names: list[str] = []
        self.clips: list[tuple[np.ndarray, np.ndarray | None]] = []
        for r in roots:
            folder = Path(r) / split
            names = sorted(p.name for p in folder.glob("*") if (p / "vocals.wav").is_file())
            if not names:
                raise StemliveError(
                    f"{folder} holds no clip (<clip>/vocals.wav [+ backing.wav]); make one with "
                    "`stemlive data mir1k --src MIR1K_FOLDER --out DIR` or "
                    "`stemlive data sung-speech --src SPEECH_FOLDER --out DIR`"
                )
            for name in names:
                v, sr = _read_int16(folder / name / "vocals.wav")
                b, sr_b = None, SAMPLE_RATE
                if (folder / name / "backing.wav").is_file():
                    b, sr_b = _read_int16(folder / name / "backing.wav")
                if sr != SAMPLE_RATE or sr_b != SAMPLE_RATE:
                    raise StemliveError(f"{folder / name} is at {sr} Hz, expected {SAMPLE_RATE}")
                n = len(v) if b is None else min(len(v), len(b))
                self.names.append(name)
                self.clips.append((v[:n, 0], None if b is None else b[:n, 0]))
        self.backed = [i for i, (_, b) in enumerate(self.clips) if b is not None]
        self.roots = [str(r) for r in roots]

    def __len__(self) -> int:
        return len(self.clips)

    def segment(
        self,
        rng: np.random.Generator,
        n: int,
        floor_rms: float,
        tries: int = 6,
        backed: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """A random (vocals (n,), backing (n,)) float32 segment where the voice sounds; with
        ``backed``, from a clip that has its own backing (else the backing may be zeros)."""
        pool = self.backed if backed else range(len(self))
        if not pool:
            raise StemliveError(
                f"no clip in {', '.join(self.roots)} has a backing.wav: real-backing items "
                "(p_real_backing) need a folder made by `stemlive data mir1k`"
            )
        for _ in range(tries):
            v, b = self.clips[pool[int(rng.integers(len(pool)))]]
            start = int(rng.integers(max(1, len(v) - n + 1)))
            voice = np.zeros(n, np.float32)
            back = np.zeros(n, np.float32)
            seg = v[start : start + n]
            voice[: len(seg)] = seg / 32768.0
            if b is not None:
                back[: len(seg)] = b[start : start + n] / 32768.0
            if np.sqrt(np.mean(voice**2)) >= floor_rms:
                break
        return voice, back


# Frets on Fire songs never trained on (one per pack): `stemlive eval --suite`'s
# "instrumental" set measures on them how much of a real instrumental the model calls vocals.
HELD_OUT_SONGS = ("muldjord_mutilated_mime", "sectoid_feelings")


class InstrumentCorpus:
    """Real recordings: every ``<root>/*/<track>.wav`` of one or more folders but the
    held-out songs', (n, c) int16, memory-mapped. ``stemlive data real`` writes the Frets
    on Fire songs so: ``guitar.wav`` (the guitar alone), ``mixture.wav`` (the whole
    instrumental record)."""

    def __init__(self, roots: list[str | Path], track: str = "guitar") -> None:
        from training.train_data import _read_int16

        self.tracks: list[np.ndarray] = []
        for r in roots:
            for path in sorted(Path(r).glob(f"*/{track}.wav")):
                if path.parent.name in HELD_OUT_SONGS:
                    continue
                x, sr = _read_int16(path)
                if sr != SAMPLE_RATE:
                    raise StemliveError(f"{path} is at {sr} Hz, expected {SAMPLE_RATE}")
                self.tracks.append(x if x.shape[1] == 2 else np.repeat(x[:, :1], 2, 1))
        if not self.tracks:
            raise StemliveError(
                f"no <song>/{track}.wav under {', '.join(map(str, roots))}: make them with "
                "`stemlive data real --out DIR` (Debian's Frets on Fire song packs)"
            )

    def segment(self, rng: np.random.Generator, n: int, floor_rms: float, tries: int = 6):
        """A random (2, n) float32 segment where the instrument plays (best of ``tries``)."""
        best, best_rms = np.zeros((2, n), np.float32), -1.0
        for _ in range(tries):
            x = self.tracks[int(rng.integers(len(self.tracks)))]
            start = int(rng.integers(max(1, len(x) - n + 1)))
            seg = np.zeros((2, n), np.float32)
            part = x[start : start + n].T
            seg[:, : part.shape[1]] = part / 32768.0
            level = float(np.sqrt(np.mean(seg**2)))
            if level > best_rms:
                best, best_rms = seg, level
            if level >= floor_rms:
                break
        return best


# -- a record's vocal chain ----------------------------------------------------------------


def air(voice: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Content above 8 kHz for a voice recorded at 16 kHz (mono in, mono out, to be added).

    Real voices have sibilance, breath and harmonics up there; a 16 kHz recording has
    none, and "nothing above 8 kHz" must not tell the model "vocals". The noise that the
    voice has in its 5-8 kHz band (consonants, breaths) is continued upwards by noise with
    the same envelope, and soft saturation of the 2.5-8 kHz band adds harmonics (an
    exciter, as used on vocals in production).
    """
    n = len(voice)
    hop = sample_rate // 200  # 5 ms frames
    band = fx.apply_gain_curve(
        voice, sample_rate, lambda f: fx.highpass_db(f, 5000, 6) + fx.lowpass_db(f, 7800, 6)
    )
    frames = -(-n // hop)
    padded = np.pad(band, (0, frames * hop - n))
    env = np.sqrt(np.mean(padded.reshape(frames, hop) ** 2, axis=1))
    env = np.interp(np.arange(n), np.arange(frames) * hop + hop / 2, env)
    top = rng.uniform(12000, 19000)
    noise = fx.apply_gain_curve(
        rng.standard_normal(n), sample_rate,
        lambda f: fx.highpass_db(f, 7800, 8) + fx.lowpass_db(f, top, 2)
        - 6 * np.log2(np.maximum(f, 8000) / 8000),  # falling like a voice's spectrum
    )  # fmt: skip
    noise /= np.sqrt(np.mean(noise**2)) + 1e-9
    sibilance = noise * env * rng.uniform(0.4, 1.2)
    drive = rng.uniform(2.0, 6.0)
    mid = fx.apply_gain_curve(voice, sample_rate, lambda f: fx.highpass_db(f, 2500, 2))
    harmonics = np.tanh(drive * mid / (np.max(np.abs(mid)) + 1e-9))
    harmonics = fx.apply_gain_curve(
        harmonics, sample_rate, lambda f: fx.highpass_db(f, 7800, 8) + fx.lowpass_db(f, top, 2)
    )
    rms = np.sqrt(np.mean(voice**2)) + 1e-9
    harmonics *= rms * rng.uniform(0.01, 0.06) / (np.sqrt(np.mean(harmonics**2)) + 1e-9)
    return sibilance + harmonics


def _pitch_copy(voice: np.ndarray, semitones: float) -> np.ndarray:
    """The voice resampled by a pitch ratio (tempo changes with it), cut or padded to n."""
    import soxr

    n = len(voice)
    ratio = 2 ** (semitones / 12)
    y = soxr.resample(voice, SAMPLE_RATE * ratio, SAMPLE_RATE, quality="LQ")
    out = np.zeros(n)
    out[: min(n, len(y))] = y[:n]
    return out


def vocal_chain(voice: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A dry mono voice (n,) made into a produced stereo vocal (2, n) float32.

    High-pass, random EQ with presence, compression, air above 8 kHz, sometimes a double
    (ADT), a harmony a third to a fifth away, a slapback or ping-pong delay; reverb on most.
    """
    voice = voice.astype(np.float64)
    rms = np.sqrt(np.mean(voice**2))
    if rms < 1e-7:
        return np.zeros((2, len(voice)), np.float32)
    voice = voice * (0.1 / rms)
    hp = rng.uniform(60, 160)
    voice = fx.apply_gain_curve(
        voice,
        sample_rate,
        lambda f: fx.highpass_db(f, hp, 2) + fx.random_eq(rng, 0.8)(f)
        + fx.bell_db(f, rng.uniform(2000, 5000), rng.uniform(-2, 5), 1.5),
    )  # fmt: skip
    if rng.random() < 0.8:
        voice = fx.compress(voice, sample_rate, -16 - 10 * rng.random(), rng.uniform(2, 8))
    if rng.random() < 0.85:
        voice = voice + air(voice, sample_rate, rng)
    position = rng.normal(0, 0.08) if rng.random() < 0.8 else rng.uniform(-0.5, 0.5)
    stereo = fx.pan(voice, position)
    if rng.random() < 0.2:  # a double-tracked voice: a delayed copy on the other side
        d = int(rng.uniform(0.012, 0.035) * sample_rate)
        double = np.zeros_like(voice)
        double[d:] = voice[:-d]
        stereo = stereo + fx.pan(double, rng.uniform(-0.7, 0.7)) * rng.uniform(0.3, 0.7)
    if rng.random() < 0.15:  # a harmony voice
        shift = rng.choice([-5, -4, -3, 3, 4, 5, 7])
        stereo = stereo + fx.pan(_pitch_copy(voice, shift), rng.uniform(-0.8, 0.8)) * (
            10 ** (rng.uniform(-12, -4) / 20)
        )
    wet = np.zeros_like(stereo)
    if rng.random() < 0.2:
        delay = rng.uniform(0.08, 0.4)
        wet += fx.convolve(stereo, fx.echo_ir(sample_rate, delay, rng.uniform(0.2, 0.5)))
        wet *= 10 ** (rng.uniform(-18, -8) / 20)
    if rng.random() < 0.8:
        ir = fx.reverb_ir(
            rng, sample_rate, rng.uniform(0.3, 2.5), rng.uniform(0.0, 0.06),
            rng.uniform(3000, 10000),
        )  # fmt: skip
        wet += fx.convolve(stereo, ir) * 10 ** (rng.uniform(-22, -8) / 20)
    out = stereo + wet
    return (out * (0.1 / (np.sqrt(np.mean(out**2)) + 1e-9))).astype(np.float32)


def band_limit(x: np.ndarray, sample_rate: int, cutoff: float) -> np.ndarray:
    """A steep low-pass (like a 16 kHz recording's) on the last axis."""
    return fx.apply_gain_curve(x, sample_rate, lambda f: fx.lowpass_db(f, cutoff, 24)).astype(
        np.float32
    )
