"""A generated corpus in the MUSDB18-HQ layout, made on demand so that a fresh machine can resume.

Until the data package's own ``stemlive data synth`` is committed, training
generates what it needs here with ``training.synth.song.generate_song``:
``<root>/<split>/<song>/{mixture,vocals,bass,drums,other}.wav``, 16-bit stereo.
Seeds of the splits never overlap, so valid and test songs are unseen.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

STEMS = ("vocals", "bass", "drums", "other")


@dataclass(frozen=True)
class CorpusSpec:
    """How many songs of how many seconds per split, and where their seeds start."""

    train_songs: int = 240
    train_seconds: float = 30.0
    valid_songs: int = 6
    valid_seconds: float = 12.0
    test_songs: int = 8
    test_seconds: float = 30.0
    seed_base: int = 0  # train seeds from seed_base, valid from +100000, test from +200000

    def splits(self) -> dict[str, tuple[int, float, int]]:
        return {
            # valid and test first: a training run can start before train is complete
            "valid": (self.valid_songs, self.valid_seconds, self.seed_base + 100_000),
            "test": (self.test_songs, self.test_seconds, self.seed_base + 200_000),
            "train": (self.train_songs, self.train_seconds, self.seed_base),
        }


def song_complete(folder: Path) -> bool:
    return all((folder / f"{n}.wav").is_file() for n in ("mixture", *STEMS))


def generate_corpus(root: Path, spec: CorpusSpec, log=print) -> None:
    """Write every missing song of ``spec`` under ``root`` (resumable: finished songs are kept)."""
    import soundfile as sf

    from training.synth.song import generate_song

    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")
    for split, (count, seconds, base) in spec.splits().items():
        for i in range(count):
            folder = root / split / f"song{base + i:06d}"
            if song_complete(folder):
                continue
            song = generate_song(base + i, seconds)
            tmp = folder.with_name(folder.name + ".part")
            tmp.mkdir(parents=True, exist_ok=True)
            for name in STEMS:
                sf.write(tmp / f"{name}.wav", song.stems[name].T, song.sample_rate, "PCM_16")
            # The mixture is the sum of the *stored* (quantised) stems, so they add up exactly.
            mix = sum(sf.read(tmp / f"{n}.wav", dtype="float32")[0] for n in STEMS)
            sf.write(tmp / "mixture.wav", np.clip(mix, -1, 1), song.sample_rate, "FLOAT")
            tmp.rename(folder)
            log(f"{split} {i + 1}/{count}: {folder.name}")


if __name__ == "__main__":  # python -m training.train_corpus ROOT [train_songs]
    target = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else CorpusSpec.train_songs
    generate_corpus(target, CorpusSpec(train_songs=n), log=lambda m: print(m, flush=True))
