"""The error a run stops with when training produced a non-finite number."""

from __future__ import annotations

from ploutos.errors import PloutosError


class TrainingDiverged(PloutosError, FloatingPointError):
    """A NaN or Inf appeared; the message names the iteration, the quantity and the last
    good checkpoint (which is left untouched)."""
