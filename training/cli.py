"""`stemlive` subcommands of training."""

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's subcommands."""
