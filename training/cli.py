"""`stemlive` subcommands of training."""

import argparse

from training import data_cli


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's subcommands."""
    data_cli.register(subparsers)
