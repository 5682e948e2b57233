"""`stemlive train`, `eval` and `semisup`."""

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the training subcommands."""
