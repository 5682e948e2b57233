"""Real speech from Debian packages, gathered as plain audio folders for sung speech.

- ``fillets-ng-data-cs`` (GPL-2): the Czech dialogue of Fish Fillets NG, 1882 Ogg clips,
  ~106 min, several actors (the two fish, a man and a woman, and a dozen others), mostly
  22.05 kHz -> ``OUT/fillets_cs/<level>_<clip>.ogg`` (symbolic links; clip names repeat
  across levels).
- ``asterisk-core-sounds-en-g722`` (CC BY-SA 3.0): 568 English prompts by one woman
  (Allison), 25.5 min, G.722 at 16 kHz -> ``OUT/asterisk_en/<path>.wav`` (decoded by ffmpeg).

Each folder is a ``--src`` for ``stemlive data sung-speech``. Sources and licences:
training/DATA_SOURCES.md.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from model.errors import StemliveError

FILLETS_SOUND = Path("/usr/share/games/fillets-ng/sound")
ASTERISK_EN = Path("/usr/share/asterisk/sounds/en_US_f_Allison")


def _missing(package: str) -> StemliveError:
    return StemliveError(f"{package} is not installed: sudo apt-get install {package}")


def gather_fillets(out: Path, root: Path = FILLETS_SOUND) -> int:
    """Link every Czech dialogue clip under ``root`` into ``out``; returns the count."""
    clips = sorted(root.glob("*/cs/*.ogg"))
    if not clips:
        raise _missing("fillets-ng-data-cs")
    out.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        link = out / f"{clip.parent.parent.name}_{clip.name}"
        if not link.exists():
            link.symlink_to(clip)
    return len(clips)


def gather_asterisk(out: Path, root: Path = ASTERISK_EN) -> int:
    """Decode every G.722 prompt under ``root`` to WAV in ``out``; returns the count."""
    prompts = sorted(root.rglob("*.g722"))
    if not prompts:
        raise _missing("asterisk-core-sounds-en-g722")
    if shutil.which("ffmpeg") is None:
        raise _missing("ffmpeg")
    out.mkdir(parents=True, exist_ok=True)
    for prompt in prompts:
        wav = out / ("_".join(prompt.relative_to(root).with_suffix("").parts) + ".wav")
        if wav.exists():
            continue
        tmp = wav.with_name(wav.stem + ".part.wav")
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "g722", "-i"]
        done = subprocess.run([*cmd, str(prompt), str(tmp)], capture_output=True, text=True)
        if done.returncode != 0:
            raise StemliveError(f"ffmpeg cannot decode {prompt}: {done.stderr.strip()}")
        tmp.rename(wav)
    return len(prompts)


def gather(out: str | Path) -> dict[str, int]:
    """Both packages into ``out/fillets_cs`` and ``out/asterisk_en``; clips per folder."""
    out = Path(out)
    return {
        "fillets_cs": gather_fillets(out / "fillets_cs"),
        "asterisk_en": gather_asterisk(out / "asterisk_en"),
    }
