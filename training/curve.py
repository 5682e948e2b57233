"""The learning curve: validation SDR per stem against wall-clock training time, CSV and PNG."""

from __future__ import annotations

import csv
from pathlib import Path

STEMS = ("vocals", "bass", "drums", "other")
FIELDS = (
    ["step", "train_minutes", "audio_hours", "train_loss"]
    + [f"sdr_{s}" for s in STEMS]
    + ["sdr_mean"]
)


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rewrite the whole curve (it is small); ``rows`` are dicts with ``FIELDS``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return [
            {k: (int(v) if k == "step" else float(v)) for k, v in r.items() if v != ""}
            for r in csv.DictReader(f)
        ]


def plot(path: Path, rows: list[dict], baselines: dict[str, dict[str, float]], title: str) -> bool:
    """Draw SDR per stem vs. minutes, with baselines as dashed lines; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 4, figsize=(16, 4), sharex=True)
    x = [r["train_minutes"] for r in rows]
    styles = {"gain_only": "--", "mixture": ":", "irm": "-."}
    for ax, stem in zip(axes, STEMS, strict=True):
        ax.plot(x, [r[f"sdr_{stem}"] for r in rows], "o-", ms=3, label="model")
        for name, per_stem in baselines.items():
            if stem in per_stem:
                ax.axhline(per_stem[stem], ls=styles.get(name, "--"), color="grey", lw=1)
                ax.annotate(name, (x[0] if x else 0, per_stem[stem]), fontsize=7, color="grey")
        for i in range(1, len(rows)):
            if rows[i].get("valid_set") != rows[i - 1].get("valid_set"):
                # Points left of this line were measured on other validation songs.
                ax.axvline(x[i], ls=":", color="red", lw=1)
                ax.annotate("new valid songs", (x[i], ax.get_ylim()[0]), fontsize=7, color="red")
        ax.set_title(stem)
        ax.set_xlabel("training minutes (wall clock)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation SDR (dB)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True
