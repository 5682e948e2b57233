"""`stemlive data ...`: user errors are one line and exit code 2."""

from realtime.cli import main


def test_synth_rejects_bad_counts(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path), "--songs", "0"]) == 2
    err = capsys.readouterr().err
    assert "--songs must be at least 1" in err and len(err.strip().splitlines()) == 1


def test_synth_writes_the_musdb_layout(tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "synth",
                "--out",
                str(tmp_path),
                "--songs",
                "1",
                "--seconds",
                "2",
                "--seed",
                "3",
                "--jobs",
                "1",
            ]
        )
        == 0
    )
    folders = list(tmp_path.glob("*/synth_00000003"))
    assert len(folders) == 1 and folders[0].parent.name in ("train", "valid", "test")
    assert sorted(p.name for p in folders[0].glob("*.wav")) == [
        "bass.wav",
        "drums.wav",
        "mixture.wav",
        "other.wav",
        "vocals.wav",
    ]
