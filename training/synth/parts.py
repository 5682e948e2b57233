"""Bass lines and accompaniment parts (the "other" stem) that follow the chords."""

from __future__ import annotations

import numpy as np

from training.synth.grooves import GROOVES
from training.synth.notes import Note, Part, Section
from training.synth.theory import Chord, Key, voice_chord

BASS_PROGRAMS = (32, 33, 33, 34, 34, 35, 36, 37, 38, 39)
BASS_STYLES = ("kick", "eighths", "rootfifth", "octave", "whole", "walking", "syncop")

# Roles of the "other" stem and General MIDI programs that play them. Choir and
# voice presets (52-54, 85, 91) are left out: they would be "other" that sounds
# like vocals.
ROLE_PROGRAMS: dict[str, tuple[int, ...]] = {
    "chords": (0, 1, 2, 4, 5, 7, 16, 17, 18, 19, 21, 27, 61, 62),
    "arp": (0, 1, 4, 5, 6, 8, 10, 11, 12, 24, 25, 45, 46, 80, 81, 98),
    "pad": (48, 49, 50, 51, 88, 89, 90, 92, 94, 95, 19),
    "strum": (24, 25, 25, 26, 27, 105),
    "power": (29, 30, 30),
    "skank": (4, 5, 16, 17, 27, 28, 7),
    "lead": (56, 65, 66, 71, 73, 80, 81, 11, 12, 22, 68),
}


def _chord_at(sec: Section, half: int) -> Chord:
    return sec.chords[half % len(sec.chords)]


def bass_part(
    rng: np.random.Generator, sections: list[Section], key: Key, beats_per_bar: int, groove: str
) -> Part:
    """A bass line: the chord roots in one of several styles, with approach notes."""
    style = str(rng.choice(BASS_STYLES))
    if groove == "shuffle" and rng.random() < 0.6:
        style = "walking"
    kick = GROOVES[groove]["kick"]
    low = int(rng.integers(28, 34))  # lowest root: E1..A#1
    notes: list[Note] = []
    half_beats = beats_per_bar / 2
    for sec in sections:
        sec_style = "whole" if sec.energy < 0.3 and rng.random() < 0.5 else style
        for bar in range(sec.bars):
            b0 = (sec.start_bar + bar) * beats_per_bar
            for h in range(2):
                chord = _chord_at(sec, 2 * bar + h)
                nxt = _chord_at(sec, 2 * bar + h + 1)
                root = low + (chord.root - low) % 12
                fifth = root + (chord.fifth() - chord.root) % 12
                t0 = b0 + h * half_beats
                notes += _bass_cell(rng, sec_style, t0, half_beats, root, fifth, nxt, key, kick, h)
    vel = int(rng.integers(80, 115))
    notes = [Note(n.beat, n.length, n.key, int(np.clip(vel + n.velocity, 30, 127))) for n in notes]
    return Part("bass", "bass", int(rng.choice(BASS_PROGRAMS)), notes=notes)


def _bass_cell(
    rng: np.random.Generator,
    style: str,
    t0: float,
    length: float,
    root: int,
    fifth: int,
    nxt: Chord,
    key: Key,
    kick: str,
    half: int,
) -> list[Note]:
    """Notes of one half bar (velocities are offsets from the part's level)."""
    out: list[Note] = []
    if style == "whole":
        return [Note(t0, length * 0.95, root, 0)] if half == 0 or rng.random() < 0.3 else []
    if style == "rootfifth":
        return [
            Note(t0, length / 2 * 0.9, root, 0),
            Note(t0 + length / 2, length / 2 * 0.9, fifth, -8),
        ]
    if style in ("eighths", "octave"):
        n = int(length * 2)
        for i in range(n):
            k = root + 12 if style == "octave" and i % 2 else root
            out.append(Note(t0 + i / 2, 0.42, k, 0 if i % 2 == 0 else -12))
        return out
    if style == "walking":
        target = root + (nxt.root - root) % 12
        target = target - 12 if target - root > 6 else target
        n = int(length)
        line = [root, fifth if n > 2 else root, key.nearest_in_scale((root + target) // 2 + 2)]
        line = (line + [target - 1])[: max(n - 1, 1)] + [
            target + 1 if rng.random() < 0.5 else target - 1
        ]
        return [Note(t0 + i, 0.9, k, 0) for i, k in enumerate(line[:n])]
    if style == "kick":
        steps = len(kick) // 2
        hits = [s for s in range(steps) if kick[half * steps + s] != "."] or [0]
        for j, s in enumerate(hits):
            end = hits[j + 1] if j + 1 < len(hits) else steps
            out.append(Note(t0 + s / 4, max(0.2, (end - s) / 4 * 0.9), root, 0))
        return out
    # syncop: a syncopated figure with the octave
    figure = [(0.0, 0.7, 0), (0.75, 0.2, 12), (1.5, 0.45, 0)]
    for t, d, o in figure:
        if t < length:
            out.append(Note(t0 + t, d, root + o, -5 if o else 0))
    return out


def choose_roles(rng: np.random.Generator, groove: str) -> list[str]:
    """Which accompaniment roles a song has (one to three, rarely a lead)."""
    roles = ["chords", "arp", "pad", "strum", "power", "skank"]
    weights = np.array([3.0, 2.0, 2.0, 2.0, 1.0, 0.6])
    if groove == "onedrop":
        weights[5] = 4.0
    if groove in ("rock", "punk"):
        weights[4] = 3.0
    count = int(rng.choice([1, 2, 2, 3, 3]))
    picks = rng.choice(len(roles), size=count, replace=False, p=weights / weights.sum())
    return [roles[i] for i in picks]


def accompaniment_part(
    rng: np.random.Generator,
    role: str,
    sections: list[Section],
    beats_per_bar: int,
    index: int,
) -> Part:
    """One "other" part playing ``role`` over the chords; it may sit out some sections."""
    program = int(rng.choice(ROLE_PROGRAMS[role]))
    low = int(rng.integers(50, 60))
    high = low + int(rng.integers(17, 24))
    notes: list[Note] = []
    previous: list[int] | None = None
    half_beats = beats_per_bar / 2
    rhythm = _comp_rhythm(rng, beats_per_bar)
    for sec in sections:
        # Quiet sections thin out the band: some parts rest.
        if sec.energy < 0.4 and role in ("power", "arp", "skank") and rng.random() < 0.6:
            continue
        if role == "pad" and sec.energy > 0.3 and rng.random() < 0.3:
            continue
        vel = int(55 + 50 * sec.energy + rng.integers(-8, 9))
        for bar in range(sec.bars):
            b0 = (sec.start_bar + bar) * beats_per_bar
            for h in range(2):
                chord = _chord_at(sec, 2 * bar + h)
                voicing = voice_chord(chord, previous, low, high)
                previous = voicing
                t0 = b0 + h * half_beats
                notes += _comp_cell(rng, role, t0, half_beats, voicing, chord, vel, rhythm, h)
    return Part(f"{role}{index}", "other", program, notes=notes)


def _comp_rhythm(rng: np.random.Generator, beats_per_bar: int) -> list[tuple[float, float]]:
    """A comping rhythm for half a bar: (onset, length) in beats."""
    half = beats_per_bar / 2
    options = [
        [(0.0, half * 0.95)],
        [(i * 1.0, 0.9) for i in range(int(half))],
        [(0.0, 0.9), (1.5, 0.4)] if half >= 2 else [(0.0, 0.9)],
        [(0.5, 0.4), (1.5, 0.4)] if half >= 2 else [(0.5, 0.4)],
        [(0.0, 1.4), (1.5, 0.45)] if half >= 2 else [(0.0, 1.4)],
    ]
    return options[rng.integers(len(options))]


def _comp_cell(
    rng: np.random.Generator,
    role: str,
    t0: float,
    length: float,
    voicing: list[int],
    chord: Chord,
    vel: int,
    rhythm: list[tuple[float, float]],
    half: int,
) -> list[Note]:
    out: list[Note] = []
    if role == "pad":
        if half == 0:
            return [Note(t0, length * 2 * 0.98, k, vel - 15) for k in voicing]
        return []
    if role == "chords":
        for t, d in rhythm:
            out += [Note(t0 + t, d, k, vel) for k in voicing]
        if rng.random() < 0.5:  # a left-hand root below
            out.append(
                Note(t0, length * 0.9, voicing[0] - 12 - (voicing[0] - chord.root) % 12, vel - 10)
            )
        return out
    if role == "arp":
        seq = voicing + [voicing[0] + 12]
        seq = seq + seq[-2:0:-1] if rng.random() < 0.5 else seq
        n = int(length * 2)
        return [
            Note(t0 + i / 2, 0.45, seq[i % len(seq)], vel - (0 if i % 2 == 0 else 10))
            for i in range(n)
        ]
    if role == "strum":
        out = []
        pattern = [(0.0, 1), (1.0, 1), (1.5, -1)] if length >= 2 else [(0.0, 1), (1.0, -1)]
        for t, direction in pattern:
            keys = voicing if direction > 0 else voicing[::-1]
            for j, k in enumerate(keys):
                # Strings of a strum sound one after another, 10-20 ms apart.
                out.append(
                    Note(t0 + t + j * 0.03, 0.9 - j * 0.03, k, vel - (0 if direction > 0 else 15))
                )
        return out
    if role == "power":
        root = voicing[0] - (voicing[0] - chord.root) % 12
        root = root - 12 if root > 52 else root
        keys = [root, root + 7, root + 12]
        n = int(length * 2)
        return [
            Note(t0 + i / 2, 0.4, k, vel - (0 if i % 2 == 0 else 12))
            for i in range(n)
            for k in keys
        ]
    # skank: short chords on the off-beats
    n = int(length)
    return [Note(t0 + i + 0.5, 0.25, k, vel) for i in range(n) for k in voicing]
