"""`stemlive gui`: arguments are checked before Qt starts; other commands never load Qt."""

import subprocess
import sys

import pytest

from model.errors import StemliveError
from realtime.cli import build_parser


def test_gui_subcommand_is_registered_and_checks_its_arguments(tmp_path):
    parser = build_parser()
    args = parser.parse_args(["gui", "--no-output", "--fps", "30"])
    assert args.command == "gui" and args.no_output and args.file is None
    for argv, message in (
        (["gui", str(tmp_path / "missing.wav")], "no such file"),
        (["gui", "--fps", "500"], "--fps"),
        (["gui", "--screenshot", "x.png"], "--quit-after"),
    ):
        with pytest.raises(StemliveError, match=message):
            parser.parse_args(argv).func(parser.parse_args(argv))


def test_building_the_cli_does_not_import_qt():
    code = (
        "import sys; from realtime.cli import build_parser; build_parser(); "
        "print(any(m.startswith('PySide6') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
