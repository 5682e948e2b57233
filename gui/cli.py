"""`stemlive` subcommands of gui."""

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's subcommands."""
