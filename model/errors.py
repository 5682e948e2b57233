"""Errors meant for the user: their message says what was wrong, where, and what to do."""


class StemliveError(Exception):
    """Base of user-facing errors; the CLI prints the message on one line and exits 2."""


class WeightsError(StemliveError):
    """A weights folder that is missing, corrupt, or does not match its config."""


class AudioFileError(StemliveError):
    """An audio file that cannot be read, is empty, or holds unusable samples."""
