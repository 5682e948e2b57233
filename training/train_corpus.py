"""The training corpus ``data/gen`` in the MUSDB18-HQ layout, made on demand so that a fresh
machine can resume (``stemlive train --ensure-data N``).

``<root>/<split>/song<seed>/{mixture,vocals,bass,drums,other}.wav``, 16-bit stereo stems and a
float mixture that is exactly their sum, made by ``training.synth.corpus.make_song`` (the
front end of ``stemlive data synth`` too, whose own layout differs: it splits by a hash of
the seed). Seeds of the splits never overlap, so valid and test songs are unseen. The
committed checkpoints' validation fingerprints are tied to this layout."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

TIMBRE_SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")  # Debian timgm6mb-soundfont


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
    # More train songs rendered with a second SoundFont (TimGM6mb: other instruments and
    # drum kits), seeds from seed_base + 500000, named tim<seed>.
    timbre_songs: int = 0

    def splits(self) -> dict[str, tuple[int, float, int]]:
        return {
            # valid and test first: a training run can start before train is complete
            "valid": (self.valid_songs, self.valid_seconds, self.seed_base + 100_000),
            "test": (self.test_songs, self.test_seconds, self.seed_base + 200_000),
            "train": (self.train_songs, self.train_seconds, self.seed_base),
        }


def song_jobs(root: Path, spec: CorpusSpec) -> list:
    """The songs of ``spec`` under ``root``, valid and test first."""
    from training.synth.corpus import SongJob

    todo = [
        SongJob(root / split / f"song{base + i:06d}", base + i, seconds)
        for split, (count, seconds, base) in spec.splits().items()
        for i in range(count)
    ]
    base = spec.seed_base + 500_000
    todo += [
        SongJob(root / "train" / f"tim{base + i:06d}", base + i, spec.train_seconds,
                soundfont=str(TIMBRE_SOUNDFONT))
        for i in range(spec.timbre_songs)
    ]  # fmt: skip
    return todo


def generate_corpus(root: Path, spec: CorpusSpec, log=print, jobs: int = 1) -> None:
    """Write every missing song of ``spec`` under ``root`` (resumable: finished songs are kept).

    With ``jobs`` > 1 songs are made by that many processes; a song depends only on its
    seed, so the corpus is the same either way.
    """
    from training.synth.corpus import make_songs, song_complete

    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")
    todo = [job for job in song_jobs(root, spec) if not song_complete(job.folder)]
    if not todo:
        return
    log(f"generating {len(todo)} songs under {root} with {jobs} process(es)")
    for n, (job, _) in enumerate(make_songs(todo, jobs), 1):
        log(f"{n}/{len(todo)}: {job.split}/{job.folder.name}")


if __name__ == "__main__":  # python -m training.train_corpus ROOT [train_songs [jobs [timbre]]]
    target = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else CorpusSpec.train_songs
    jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    timbre = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    spec = CorpusSpec(train_songs=n, timbre_songs=timbre)
    generate_corpus(target, spec, lambda m: print(m, flush=True), jobs)
