"""Lyric lines for the synthetic singer: plain, original lines (ours, same licence as the code).

Hyphens mark syllables, so a melody can be written with one note per syllable
before the text is turned into phonemes.
"""

from __future__ import annotations

import numpy as np

LINES: tuple[str, ...] = (
    "I can feel the ris-ing sun",
    "walk-ing down the emp-ty road",
    "hold me now and don't let go",
    "ev-ery night I think of you",
    "we were young and we were free",
    "take my hand and run with me",
    "all the lights are shin-ing bright",
    "danc-ing in the sum-mer rain",
    "I will wait for you to-night",
    "nev-er fade a-way",
    "you are all I need",
    "time is mov-ing on",
    "lost in a dream",
    "come back home to me",
    "the riv-er flows in-to the sea",
    "we will sing un-til the morn-ing",
    "fire in my heart",
    "turn a-round and see",
    "I re-mem-ber ev-ery word you said",
    "sha-dows on the wall",
    "let the mu-sic play",
    "sing it loud and clear",
    "noth-ing can stop us now",
    "on and on we go",
    "where the wild birds fly",
    "stars a-bove the ci-ty",
    "breathe in breathe out",
    "I just want to know",
    "you light up my life",
    "ten-der is the night",
    "run-ning through the fields of gold",
    "ev-ery-thing will be al-right",
    "we can make it if we try",
    "the world is turn-ing slow",
    "don't you cry to-night",
    "in the cold of win-ter",
    "feel the beat in-side",
    "I found my way back home",
    "say you love me too",
    "high-er and high-er",
    "o-ver the moun-tain",
    "tell me what you see",
    "this is our time",
    "I'm for-ev-er yours",
    "let it shine",
    "all a-long the wa-ter-side",
    "bring the sun-shine back",
    "the road goes on for-ev-er",
    "my heart be-longs to you",
    "a song for you and me",
    "we are gold-en",
    "wake me when it's o-ver",
    "dream a lit-tle dream",
    "rain is fall-ing down",
    "call my name",
    "o-pen up your eyes",
    "we are danc-ing in the dark",
    "the sky is blue a-gain",
    "I will fol-low you",
    "far a-way from here",
    "la la la la la",
    "oh oh oh yeah",
    "na na na na na na",
    "hey hey hey",
    "ooh ba-by ba-by",
    "keep on mov-ing",
    "the morn-ing sun is ris-ing",
    "sil-ver moon is shin-ing",
    "I could nev-er say good-bye",
    "love will find a way",
)


def syllable_count(line: str) -> int:
    """Number of sung syllables of a line as its hyphens and spaces mark them."""
    return sum(len(word.split("-")) for word in line.split())


def plain_text(line: str) -> str:
    """The line as words, for text-to-phoneme conversion."""
    return line.replace("-", "")


def choose_lines(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct lyric lines."""
    picks = rng.choice(len(LINES), size=min(count, len(LINES)), replace=False)
    return [LINES[i] for i in picks]
