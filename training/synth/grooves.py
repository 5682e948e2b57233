"""Drum grooves on a 16th-note grid, fills and crashes: the drums part of a song."""

from __future__ import annotations

import numpy as np

from training.synth.notes import Note, Part, Section

KICK, SNARE, RIM, CLAP, HAT, PEDAL, OPEN_HAT, RIDE, CRASH, TAMB, SHAKER = (
    36,
    38,
    37,
    39,
    42,
    44,
    46,
    51,
    49,
    54,
    70,
)
TOMS = (50, 48, 47, 45, 43, 41)

# Per groove: the steps of one bar (16 in 4/4, 12 in 3/4) for each voice; "x" hit,
# "X" accent, "o" ghost note. "hat" is played by whichever cymbal the section picks.
GROOVES: dict[str, dict[str, str]] = {
    "rock": {"kick": "x.......x.x.....", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
    "pop": {"kick": "x.....x...x.....", "snare": "....X.......X...", "hat": "xoxoxoxoxoxoxoxo"},
    "four": {"kick": "x...x...x...x...", "snare": "....X.......X...", "hat": "..x...x...x...x."},
    "halftime": {
        "kick": "x.........x.....",
        "snare": "........X.......",
        "hat": "x.x.x.x.x.x.x.x.",
    },
    "funk": {"kick": "x.x....x..x.....", "snare": "....X..o.o..X..o", "hat": "xoxoxoxoxoxoxoxo"},
    "hiphop": {"kick": "x......x..x.....", "clap": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
    "shuffle": {"kick": "x.......x.......", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
    "ballad": {"kick": "x.......x.......", "rim": "....x.......x...", "hat": "x...x...x...x..."},
    "bossa": {"kick": "x..x....x..x....", "rim": "x..x..x...x..x..", "hat": "xoxoxoxoxoxoxoxo"},
    "onedrop": {"kick": "........x.......", "rim": "........x.......", "hat": "..x...x...x...x."},
    "punk": {"kick": "x.x.x.x.x.x.x.x.", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
    "waltz": {"kick": "x...........", "snare": "....x...x...", "hat": "x.x.x.x.x.x."},
}
SWUNG = {"shuffle"}
VOICE_KEYS = {"kick": KICK, "snare": SNARE, "rim": RIM, "clap": CLAP}
KITS = (0, 8, 16, 24, 25, 32, 40)  # bank-128 presets of FluidR3_GM


def choose_groove(rng: np.random.Generator, beats_per_bar: int) -> str:
    """A groove name that fits the metre."""
    names = [n for n, g in GROOVES.items() if len(g["kick"]) == 4 * beats_per_bar]
    return names[rng.integers(len(names))]


def choose_kit(rng: np.random.Generator, groove: str) -> int:
    """A drum-kit preset that suits the groove."""
    if groove in ("bossa", "ballad", "shuffle") and rng.random() < 0.5:
        return int(rng.choice([32, 40]))
    if groove in ("hiphop", "four") and rng.random() < 0.5:
        return int(rng.choice([24, 25]))
    return int(rng.choice(KITS))


def drum_part(
    rng: np.random.Generator,
    sections: list[Section],
    groove: str,
    beats_per_bar: int,
    kit: int,
) -> Part:
    """The drum part over all sections: the groove, its variations, fills and crashes."""
    pattern = GROOVES[groove]
    steps = len(pattern["kick"])
    notes: list[Note] = []
    for sec in sections:
        if not sec.drums:
            continue
        loud = sec.energy > 0.6
        if loud:
            cymbal = int(rng.choice([RIDE, OPEN_HAT, HAT, HAT]))
        else:
            cymbal = int(rng.choice([HAT, HAT, PEDAL, SHAKER, RIDE]))
        extra_kick = rng.random() < 0.3
        for bar in range(sec.bars):
            b0 = (sec.start_bar + bar) * beats_per_bar
            fill = bar == sec.bars - 1 and rng.random() < 0.55
            fill_from = steps // 2 if rng.random() < 0.6 else steps - 4
            for voice, line in pattern.items():
                key = cymbal if voice == "hat" else VOICE_KEYS[voice]
                for s, ch in enumerate(line):
                    if ch == "." or (fill and s >= fill_from and voice != "kick"):
                        continue
                    vel = {"X": 118, "x": 96, "o": 52}[ch]
                    if voice == "hat":
                        vel = vel - 16 if s % 4 else vel
                    notes.append(Note(b0 + s / 4, 0.25, key, vel))
            if extra_kick and bar % 2 == 1:
                notes.append(Note(b0 + (steps - 2) / 4, 0.25, KICK, 80))
            if fill:
                toms = list(TOMS[: int(rng.integers(2, 6))])
                for s in range(fill_from, steps):
                    if rng.random() < 0.8:
                        i = (s - fill_from) * len(toms) // max(1, steps - fill_from)
                        key = SNARE if rng.random() < 0.35 else toms[i]
                        notes.append(
                            Note(b0 + s / 4, 0.25, key, int(70 + 40 * (s - fill_from) / steps))
                        )
        if rng.random() < 0.8:
            notes.append(Note(sec.start_bar * beats_per_bar, 2.0, CRASH, 110))
            notes.append(Note(sec.start_bar * beats_per_bar, 0.25, KICK, 110))
        if sec.energy > 0.7 and rng.random() < 0.3:
            for bar in range(sec.bars):
                for beat in range(1, beats_per_bar, 2):
                    notes.append(Note((sec.start_bar + bar) * beats_per_bar + beat, 0.25, TAMB, 70))
    scale = 0.75 + 0.25 * rng.random()
    notes = [Note(n.beat, n.length, n.key, _vel(rng, n.velocity * scale)) for n in notes]
    return Part("drums", "drums", kit, drums=True, notes=notes)


def _vel(rng: np.random.Generator, v: float) -> int:
    return int(np.clip(v + rng.normal(0, 6), 20, 127))
