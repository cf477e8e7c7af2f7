"""Exceptions for user errors: bad data, bad options, bad run directories.

Every user error raised by vaelab is a `VaelabError`. The CLI turns one into a
single line on stderr and exit code 2; the API lets it propagate. Each also
subclasses the built-in exception a Python user would expect (ValueError,
FileNotFoundError), so ``except ValueError`` keeps working.
"""


class VaelabError(Exception):
    """Base class of every user-facing vaelab error."""


class DataError(VaelabError, ValueError):
    """Data that cannot be read or used: wrong format, checksum, shape or values."""


class DataNotFoundError(VaelabError, FileNotFoundError):
    """A data file or directory that does not exist or lacks expected files."""


class ConfigError(VaelabError, ValueError):
    """An option or config value that is unknown, mistyped or out of range."""


class RunDirError(VaelabError, ValueError):
    """A run directory that is missing, incomplete or corrupted."""


class TrainingDivergedError(VaelabError, FloatingPointError):
    """Training produced NaN or inf; the message says where and the likely cause."""
