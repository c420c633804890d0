"""Data layer: sources (sample, yahoo, csv, synthetic), validation, splits, walk-forward."""

from ploutos.data.bars import Bars
from ploutos.data.fingerprint import data_fingerprint
from ploutos.data.loader import load_bars, select_tickers
from ploutos.data.splits import resolve_splits, walk_forward_folds
from ploutos.data.synthetic import synthetic_bars
from ploutos.data.validate import check_history, validate_bars

__all__ = [
    "Bars",
    "check_history",
    "data_fingerprint",
    "load_bars",
    "resolve_splits",
    "select_tickers",
    "synthetic_bars",
    "validate_bars",
    "walk_forward_folds",
]
