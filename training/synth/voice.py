"""A singing voice: espeak-ng turns words into phonemes, mbrola sings them on given notes.

mbrola is a diphone synthesiser driven by ``.pho`` lines (phoneme, duration in ms,
pitch points): giving each syllable's vowel the duration and pitch of its note,
with vibrato and a scoop, makes it sing. The voices are 16 kHz (nothing above
8 kHz); see ``effects.air_band`` for how the song generator hides that.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import soxr

from model.errors import StemliveError

MBROLA_DIR = Path("/usr/share/mbrola")


@dataclass(frozen=True)
class VoiceSpec:
    """An mbrola voice database and the espeak-ng voice that speaks English with its phonemes."""

    name: str
    espeak: str
    female: bool


# English-singing voices: the US/UK ones, and female European voices through
# espeak-ng's "<voice>-en" mappings (English words in that voice's phoneme set).
KNOWN_VOICES: tuple[VoiceSpec, ...] = (
    VoiceSpec("us1", "mb-us1", True),
    VoiceSpec("us2", "mb-us2", False),
    VoiceSpec("us3", "mb-us3", False),
    VoiceSpec("en1", "mb-en1", False),
    VoiceSpec("de1", "mb-de1-en", True),
    VoiceSpec("de5", "mb-de5-en", True),
    VoiceSpec("fr4", "mb-fr4-en", True),
)

# SAMPA vowel symbols start with one of these; "=" marks a syllabic consonant (r=).
_VOWEL_START = set("aeiouAEIOUV{@3269&QyYO")
# Consonants whose noise reaches above 8 kHz in a real voice.
NOISY_CONSONANTS = {"s", "z", "S", "Z", "f", "T", "tS", "dZ", "t", "t_h", "k", "k_h", "p_h", "h"}


def available_voices(mbrola_dir: Path = MBROLA_DIR) -> list[VoiceSpec]:
    """The known voices whose mbrola database is installed (empty if mbrola is missing)."""
    if shutil.which("mbrola") is None or shutil.which("espeak-ng") is None:
        return []
    return [v for v in KNOWN_VOICES if (mbrola_dir / v.name / v.name).is_file()]


def is_vowel(phoneme: str) -> bool:
    """Whether a SAMPA phoneme can carry a syllable (a vowel or a syllabic consonant)."""
    return phoneme[:1] in _VOWEL_START or "=" in phoneme


@dataclass
class Syllable:
    """Phonemes of one syllable with espeak's durations (seconds)."""

    onset: list[tuple[str, float]] = field(default_factory=list)
    nucleus: str = ""
    coda: list[tuple[str, float]] = field(default_factory=list)


@lru_cache(maxsize=4096)
def phonemize(espeak_voice: str, text: str) -> tuple[tuple[str, float], ...]:
    """Phonemes and durations (seconds) of ``text`` as espeak-ng speaks it with mbrola names."""
    try:
        out = subprocess.run(
            ["espeak-ng", "-q", "--pho", "-v", espeak_voice, text],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise StemliveError(
            f"espeak-ng failed for voice {espeak_voice}: {exc}; "
            "run scripts/install_synth_packages.sh"
        ) from exc
    phonemes = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] != "_":
            phonemes.append((parts[0], int(parts[1]) / 1000.0))
    return tuple(phonemes)


def syllabify(phonemes: tuple[tuple[str, float], ...]) -> list[Syllable]:
    """Cut a phoneme string into syllables around its vowels.

    Between two vowels one consonant starts the next syllable; of a cluster, the
    first closes the previous syllable and the rest start the next.
    """
    nuclei = [i for i, (p, _) in enumerate(phonemes) if is_vowel(p)]
    if not nuclei:
        return []
    syllables = [Syllable(nucleus=phonemes[i][0]) for i in nuclei]
    syllables[0].onset = list(phonemes[: nuclei[0]])
    syllables[-1].coda = list(phonemes[nuclei[-1] + 1 :])
    for k in range(len(nuclei) - 1):
        between = list(phonemes[nuclei[k] + 1 : nuclei[k + 1]])
        split = 0 if len(between) <= 1 else 1
        syllables[k].coda = between[:split]
        syllables[k + 1].onset = between[split:]
    return syllables


@dataclass(frozen=True)
class SungNote:
    """A note of the vocal melody: start and duration in seconds, MIDI pitch."""

    start: float
    duration: float
    pitch: float


@dataclass(frozen=True)
class Expression:
    """How a singer ornaments notes: vibrato, the scoop into a note, consonant speed."""

    vibrato_rate: float = 5.5  # Hz
    vibrato_cents: float = 35.0
    vibrato_delay: float = 0.18  # s before vibrato starts on a held note
    scoop_cents: float = 60.0  # start below the note and slide up
    consonant_scale: float = 0.9


@dataclass
class SungLine:
    """One lyric line and the notes it is sung on."""

    text: str
    notes: list[SungNote]


@dataclass
class Performance:
    """mbrola's rendering of a vocal part: mono audio and where its noisy consonants are."""

    audio: np.ndarray  # (samples,) float32 at the requested sample rate
    noisy_intervals: list[tuple[float, float]]  # seconds
    phrase_starts: list[float]


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _assign(
    syllables: list[Syllable], notes: list[SungNote]
) -> list[tuple[Syllable, list[SungNote]]]:
    """Pair syllables with notes: one each, a melisma when notes outnumber syllables,
    or a note shared out when syllables outnumber notes."""
    k, n = len(syllables), len(notes)
    if k == n:
        return [(s, [m]) for s, m in zip(syllables, notes, strict=True)]
    if k < n:
        bounds = [round(i * n / k) for i in range(k + 1)]
        return [(syllables[i], notes[bounds[i] : bounds[i + 1]]) for i in range(k)]
    pairs = []
    bounds = [round(j * k / n) for j in range(n + 1)]
    for j, note in enumerate(notes):
        group = syllables[bounds[j] : bounds[j + 1]]
        step = note.duration / max(1, len(group))
        for g, syl in enumerate(group):
            pairs.append((syl, [SungNote(note.start + g * step, step, note.pitch)]))
    return pairs


def _pitch_points(
    notes: list[SungNote], t0: float, t1: float, expr: Expression, rng: np.random.Generator
) -> list[tuple[float, float]]:
    """(time, Hz) points over a vowel held from t0 to t1 across ``notes``."""
    dur = max(t1 - t0, 1e-3)
    step = max(0.025, dur / 60.0)  # mbrola reads lines of bounded length
    times = np.arange(t0, t1 + 1e-9, step)
    phase = rng.uniform(0, 2 * np.pi)
    drift = rng.normal(0, 8.0)
    points = []
    for t in times:
        idx = 0
        for i, m in enumerate(notes):
            if t >= m.start - 1e-6:
                idx = i
        base = notes[idx].pitch
        since = t - max(t0, notes[idx].start)
        if idx > 0:  # glide from the previous note of a melisma
            prev = notes[idx - 1].pitch
            base = prev + (base - prev) * min(1.0, since / 0.06)
        cents = drift
        cents -= expr.scoop_cents * np.exp(-(t - t0) / 0.05) if idx == 0 else 0.0
        held = t - t0 - expr.vibrato_delay
        if held > 0:
            ramp = min(1.0, held / 0.25)
            cents += expr.vibrato_cents * ramp * np.sin(2 * np.pi * expr.vibrato_rate * t + phase)
        points.append((t, _hz(base + cents / 100.0)))
    return points


def _pho_line(phoneme: str, start: float, end: float, points: list[tuple[float, float]]) -> str:
    dur = max(end - start, 0.001)
    parts = [phoneme, f"{dur * 1000:.0f}"]
    for t, hz in points:
        pct = min(100.0, max(0.0, 100.0 * (t - start) / dur))
        parts += [f"{pct:.0f}", f"{hz:.1f}"]
    return " ".join(parts)


def write_pho(
    voice: VoiceSpec, lines: list[SungLine], expr: Expression, rng: np.random.Generator
) -> tuple[str, list[tuple[float, float]], list[float]]:
    """The ``.pho`` text singing ``lines``, the noisy-consonant intervals, the phrase starts."""
    events = []  # (syllable, notes) in time order
    phrase_starts = []
    for line in lines:
        if not line.notes:
            continue
        syllables = syllabify(phonemize(voice.espeak, line.text.replace("-", "")))
        if not syllables:
            continue
        phrase_starts.append(line.notes[0].start)
        events += _assign(syllables, line.notes)
    # First pass: where each syllable starts and which consonants it keeps.
    plans = []
    cs = expr.consonant_scale
    for syl, notes in events:
        t0, t1 = notes[0].start, notes[-1].start + notes[-1].duration
        onset = [(p, d * cs) for p, d in syl.onset]
        coda = [(p, d * cs) for p, d in syl.coda]
        on_d, co_d = sum(d for _, d in onset), sum(d for _, d in coda)
        # Consonants may take at most half the note: a fast line squeezes them.
        limit = 0.5 * (t1 - t0)
        if on_d + co_d > limit:
            f = limit / (on_d + co_d)
            onset = [(p, d * f) for p, d in onset]
            coda = [(p, d * f) for p, d in coda]
        # Onset consonants come before the beat so that the vowel lands on it.
        start = t0 - 0.6 * sum(d for _, d in onset)
        plans.append((syl, notes, onset, coda, start, t1))
    out: list[str] = []
    noisy: list[tuple[float, float]] = []
    cursor = 0.0
    for i, (syl, notes, onset, coda, start, end) in enumerate(plans):
        start = max(start, cursor)
        if i + 1 < len(plans):
            next_start = plans[i + 1][4]
            # Legato: a short gap is sung through rather than cut by a silence.
            end = next_start if next_start - end < 0.06 else end
            end = min(end, next_start)
        on_d, co_d = sum(d for _, d in onset), sum(d for _, d in coda)
        end = max(end, start + on_d + co_d + 0.04)
        gap = start - cursor
        while gap > 0.005:  # smaller gaps are ms rounding, not rests
            piece = min(gap, 1.0)
            out.append(f"_ {piece * 1000:.0f}")
            gap -= piece
        pitch0 = _hz(notes[0].pitch)
        t = start
        for p, d in onset:
            out.append(_pho_line(p, t, t + d, [(t + d / 2, pitch0)]))
            if p in NOISY_CONSONANTS:
                noisy.append((t, t + d))
            t += d
        v_end = end - co_d
        out.append(_pho_line(syl.nucleus, t, v_end, _pitch_points(notes, t, v_end, expr, rng)))
        t = v_end
        pitch1 = _hz(notes[-1].pitch)
        for p, d in coda:
            out.append(_pho_line(p, t, t + d, [(t + d / 2, pitch1)]))
            if p in NOISY_CONSONANTS:
                noisy.append((t, t + d))
            t += d
        # mbrola reads whole milliseconds: follow the rounded durations, not the ideal ones.
        written = [d for _, d in onset] + [v_end - start - on_d] + [d for _, d in coda]
        cursor = start + sum(round(max(x, 0.001) * 1000) for x in written) / 1000
    out.append("_ 200")
    return "\n".join(out) + "\n", noisy, phrase_starts


def sing(
    voice: VoiceSpec,
    lines: list[SungLine],
    expr: Expression,
    rng: np.random.Generator,
    sample_rate: int,
    num_samples: int,
    mbrola_dir: Path = MBROLA_DIR,
) -> Performance:
    """Render ``lines`` with ``voice`` into ``num_samples`` mono samples at ``sample_rate``."""
    pho, noisy, starts = write_pho(voice, lines, expr, rng)
    database = mbrola_dir / voice.name / voice.name
    try:
        raw = subprocess.run(
            ["mbrola", "-e", str(database), "-", "-.wav"],
            input=pho.encode(),
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise StemliveError(
            f"mbrola failed with voice {voice.name}: {exc}; run scripts/install_synth_packages.sh"
        ) from exc
    if len(raw) < 44 or raw[:4] != b"RIFF":
        raise StemliveError(f"mbrola gave no audio for voice {voice.name}")
    voice_rate = int.from_bytes(raw[24:28], "little")
    pcm = np.frombuffer(raw[44 : 44 + (len(raw) - 44) // 2 * 2], dtype="<i2")
    audio = pcm.astype(np.float32) / 32768.0
    audio = soxr.resample(audio, voice_rate, sample_rate, quality="HQ").astype(np.float32)
    out = np.zeros(num_samples, dtype=np.float32)
    n = min(num_samples, len(audio))
    out[:n] = audio[:n]
    return Performance(out, noisy, starts)
