"""Errors that name what is wrong and where, so a researcher can fix the input and rerun."""


class PloutosError(Exception):
    """Base class for every error Ploutos raises on purpose."""


class ConfigError(PloutosError, ValueError):
    """A config value is out of range; the message starts with the dotted key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


class DataError(PloutosError, ValueError):
    """Bad market data; the message names the ticker and the date where it can."""


class TrainingDiverged(PloutosError, FloatingPointError):
    """A loss, gradient or parameter became NaN or Inf. The message names the iteration and
    the quantity; the optimizer step was not taken and no checkpoint is written from the bad
    weights (the last good one is left untouched)."""
