"""Exceptions raised by the framework, each naming the key, file or stage at fault."""


class CmbmlError(Exception):
    """Base class of cmbml's own errors."""


class ConfigError(CmbmlError, ValueError):
    """A configuration value is missing, unknown or invalid (the message names the key)."""


class CatalogError(CmbmlError, KeyError):
    """An unknown catalog entry or a placeholder that cannot be filled."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class MissingInputError(CmbmlError, FileNotFoundError):
    """An input file a stage needs does not exist (names the path and its producing stage)."""


class BadInputError(CmbmlError, ValueError):
    """An input file exists but is unreadable or of the wrong nside, unit or content."""


class UnwritableError(CmbmlError, PermissionError):
    """A folder cannot be written in (names the folder and the file that was not written)."""
