"""Keys, scales, chords and progressions: the harmony a song is built on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}

# Scale-degree progressions (0 = tonic) that pop, rock and folk songs lean on.
PROGRESSIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "major": (
        (0, 4, 5, 3),
        (0, 5, 3, 4),
        (5, 3, 0, 4),
        (0, 3, 4, 3),
        (0, 3, 0, 4),
        (1, 4, 0, 0),
        (0, 2, 3, 4),
        (3, 4, 0, 5),
        (0, 4, 3, 4),
        (0, 3, 5, 4),
        (0, 0, 3, 4),
        (3, 0, 4, 5),
    ),
    "minor": (
        (0, 5, 2, 6),
        (0, 3, 4, 0),
        (0, 6, 5, 6),
        (0, 3, 6, 2),
        (0, 5, 3, 4),
        (5, 6, 0, 0),
        (0, 3, 0, 4),
        (0, 2, 6, 3),
    ),
    "dorian": ((0, 3, 0, 3), (0, 6, 3, 0), (0, 1, 2, 1)),
    "mixolydian": ((0, 6, 3, 0), (0, 3, 6, 3), (0, 6, 0, 4)),
}


@dataclass(frozen=True)
class Key:
    """A tonic pitch class (0 = C) and a mode from ``SCALES``."""

    tonic: int
    mode: str

    def scale(self) -> tuple[int, ...]:
        """Pitch classes of the scale, tonic first."""
        return tuple((self.tonic + s) % 12 for s in SCALES[self.mode])

    def degree_pitch(self, degree: int, octave: int = 4) -> int:
        """MIDI pitch of a scale degree (may be negative or beyond 6), tonic in ``octave``."""
        steps = SCALES[self.mode]
        o, d = divmod(degree, 7)
        return 12 * (octave + 1 + o) + self.tonic + steps[d]

    def nearest_in_scale(self, pitch: int) -> int:
        """The scale pitch closest to ``pitch`` (ties go down)."""
        pcs = set(self.scale())
        for delta in (0, -1, 1, -2, 2):
            if (pitch + delta) % 12 in pcs:
                return pitch + delta
        return pitch


@dataclass(frozen=True)
class Chord:
    """A chord as a root pitch class and intervals above it (semitones)."""

    root: int
    intervals: tuple[int, ...]

    def pitch_classes(self) -> tuple[int, ...]:
        """Pitch classes of the chord, root first."""
        return tuple((self.root + i) % 12 for i in self.intervals)

    def third(self) -> int:
        """Pitch class of the third (the root if there is none)."""
        return (self.root + self.intervals[1]) % 12 if len(self.intervals) > 1 else self.root

    def fifth(self) -> int:
        """Pitch class of the fifth."""
        return (self.root + (self.intervals[2] if len(self.intervals) > 2 else 7)) % 12


def diatonic_chord(key: Key, degree: int, seventh: bool = False) -> Chord:
    """The triad (or seventh chord) built on a scale degree of ``key``."""
    steps = SCALES[key.mode]
    root_step = steps[degree % 7]
    tones = [steps[(degree + k) % 7] + 12 * ((degree % 7 + k) // 7) for k in (0, 2, 4, 6)]
    intervals = tuple(t - root_step for t in tones[: 4 if seventh else 3])
    return Chord((key.tonic + root_step) % 12, intervals)


def choose_progression(rng: np.random.Generator, key: Key) -> list[Chord]:
    """Four chords of a common progression in ``key``, sevenths now and then."""
    options = PROGRESSIONS[key.mode]
    degrees = options[rng.integers(len(options))]
    sevenths = rng.random() < 0.3
    chords = [diatonic_chord(key, d, sevenths and rng.random() < 0.6) for d in degrees]
    if key.mode == "minor" and rng.random() < 0.5:
        # Harmonic-minor dominant: the major V that pulls back to the tonic.
        chords = [Chord(c.root, (0, 4, 7)) if c.root == (key.tonic + 7) % 12 else c for c in chords]
    return chords


def voice_chord(
    chord: Chord, previous: list[int] | None, low: int = 55, high: int = 76
) -> list[int]:
    """A close voicing of ``chord`` within [low, high] that moves least from ``previous``."""
    pcs = chord.pitch_classes()
    candidates = []
    for base in range(low, high):
        if base % 12 not in pcs:
            continue
        voicing = [base]
        for pc in pcs:
            if pc == base % 12:
                continue
            p = base + (pc - base) % 12
            voicing.append(p)
        voicing.sort()
        if voicing[-1] <= high:
            candidates.append(voicing)
    if not candidates:
        return sorted(low + (pc - low) % 12 for pc in pcs)
    if previous is None:
        return candidates[len(candidates) // 2]
    center = sum(previous) / len(previous)
    return min(candidates, key=lambda v: abs(sum(v) / len(v) - center))
