"""Vocal melodies: a rhythm that fits a lyric line, pitches that follow the chords."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from training.synth.lyrics import LINES, syllable_count
from training.synth.notes import Note, Section
from training.synth.theory import Chord, Key


@dataclass
class MelodyLine:
    """A lyric line and its notes (one per syllable), in beats."""

    text: str
    notes: list[Note]


def line_rhythm(
    rng: np.random.Generator, syllables: int, start: float, beats: float
) -> list[tuple[float, float]] | None:
    """Onsets and lengths (beats) for ``syllables`` notes in a phrase of ``beats`` beats.

    The phrase ends with a held note and leaves at least a beat to breathe; None
    if the line does not fit.
    """
    for grid in (0.5, 0.25):
        pickup = float(rng.choice([0.0, 0.0, 0.5, 1.0]))
        usable = beats - 1.0 - pickup
        slots = np.arange(0.0, usable, grid)
        if len(slots) < syllables:
            continue
        # Favour on-beat and off-beat eighths over 16ths; keep the first slot.
        weight = np.where(
            np.isclose(slots % 1.0, 0.0), 3.0, np.where(np.isclose(slots % 0.5, 0.0), 1.6, 0.6)
        )
        weight[0] = 0.0
        rest = rng.choice(
            len(slots) - 1, size=syllables - 1, replace=False, p=weight[1:] / weight[1:].sum()
        )
        onsets = np.sort(np.concatenate([[0.0], slots[1:][rest]])) + pickup
        ends = np.append(onsets[1:], min(beats - 0.75, onsets[-1] + rng.choice([1.0, 1.5, 2.0])))
        notes = [(start + o, max(0.2, e - o - 0.05)) for o, e in zip(onsets, ends, strict=True)]
        return notes
    return None


def choose_line(rng: np.random.Generator, max_syllables: int, used: set[str]) -> str:
    """A lyric line that fits, preferring ones not sung yet in this song."""
    fits = [s for s in LINES if 3 <= syllable_count(s) <= max_syllables and s not in used]
    if not fits:
        fits = [s for s in LINES if 3 <= syllable_count(s) <= max_syllables] or ["la la la"]
    return fits[rng.integers(len(fits))]


def line_pitches(
    rng: np.random.Generator,
    rhythm: list[tuple[float, float]],
    key: Key,
    center: int,
    chord_at: Callable[[float], Chord],
    previous: int | None,
) -> list[int]:
    """Pitches for a rhythm: steps through the scale, chord tones on the beats, a
    chord tone to end on, inside about an octave and a half around ``center``."""
    scale = key.scale()
    pitch = previous if previous is not None else center
    # An arch: the line tends to rise over its first half and fall back over the second.
    peak = max(1, int(len(rhythm) * rng.uniform(0.3, 0.7)))
    steps = np.array([-3, -2, -1, 0, 1, 2, 3])
    out = []
    for i, (onset, _) in enumerate(rhythm):
        chord = chord_at(onset)
        up = i < peak
        p = np.array([0.04, 0.1, 0.22, 0.08, 0.34, 0.16, 0.06])
        p = p if up else p[::-1]
        step = int(rng.choice(steps, p=p / p.sum()))
        if pitch > center + 6:
            step = -abs(step)
        elif pitch < center - 6:
            step = abs(step)
        pitch = _from_index(_scale_index(pitch, key) + step, key)
        on_beat = abs(onset - round(onset)) < 1e-6
        last = i == len(rhythm) - 1
        if on_beat or last:
            pcs = (chord.root, chord.third()) if last else chord.pitch_classes()
            if pitch % 12 not in pcs:
                # Land on the nearest chord tone, on the side the line is moving to.
                ahead = (
                    range(pitch, pitch + 5)
                    if step >= 0 and not last
                    else range(pitch, pitch - 5, -1)
                )
                pitch = next((q for q in ahead if q % 12 in pcs), pitch)
        if pitch % 12 not in scale and pitch % 12 not in chord.pitch_classes():
            pitch = key.nearest_in_scale(pitch)
        pitch = int(np.clip(pitch, center - 7, center + 9))
        out.append(pitch)
    return out


def _scale_index(pitch: int, key: Key) -> int:
    p = key.nearest_in_scale(pitch)
    scale = key.scale()
    octave = (p - key.tonic) // 12
    return octave * 7 + sorted((pc - key.tonic) % 12 for pc in scale).index((p - key.tonic) % 12)


def _from_index(idx: int, key: Key) -> int:
    o, d = divmod(idx, 7)
    steps = sorted((pc - key.tonic) % 12 for pc in key.scale())
    return key.tonic + 12 * o + steps[d]


def harmony_line(line: MelodyLine, key: Key, steps: int) -> MelodyLine:
    """The same words a diatonic interval away (steps=2 a third above, -5 a sixth... below)."""
    notes = [
        Note(n.beat, n.length, _from_index(_scale_index(n.key, key) + steps, key), n.velocity)
        for n in line.notes
    ]
    return MelodyLine(line.text, notes)


def section_melody(
    rng: np.random.Generator,
    sec: Section,
    key: Key,
    center: int,
    beats_per_bar: int,
    phrase_bars: int,
    used: set[str],
) -> list[MelodyLine]:
    """The sung lines of one section, one line per phrase of ``phrase_bars`` bars."""
    lines: list[MelodyLine] = []
    previous = None
    beats = phrase_bars * beats_per_bar
    for p in range(sec.bars // phrase_bars):
        if rng.random() < 0.12 and p % 2 == 1:
            continue  # an instrumental answer instead of a sung line
        start = (sec.start_bar + p * phrase_bars) * beats_per_bar
        max_syl = int(beats * 2 - 4)
        text = choose_line(rng, max_syl, used)
        used.add(text)
        rhythm = line_rhythm(rng, syllable_count(text), start, beats)
        if rhythm is None:
            continue

        def chord_at(beat: float, sec: Section = sec) -> Chord:
            half = int((beat - sec.start_bar * beats_per_bar) // (beats_per_bar / 2))
            return sec.chords[half % len(sec.chords)]

        pitches = line_pitches(rng, rhythm, key, center, chord_at, previous)
        previous = pitches[-1]
        vel = int(80 + 30 * sec.energy)
        notes = [Note(o, d, k, vel) for (o, d), k in zip(rhythm, pitches, strict=True)]
        lines.append(MelodyLine(text, notes))
    return lines
