"""A content hash of bars, so a checkpoint can tell whether a backtest runs on its data."""

from __future__ import annotations

import hashlib

import numpy as np

from ploutos.data.bars import Bars


def data_fingerprint(bars: Bars) -> str:
    """sha256 (hex) of the dates, tickers, benchmark and every field present, with names."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(bars.dates, dtype="datetime64[D]").tobytes())
    digest.update("\x1f".join(bars.tickers).encode())
    arrays = [(f, getattr(bars, f)) for f in bars.columns]
    if bars.benchmark is not None:
        arrays.append((f"benchmark:{bars.benchmark_name}", bars.benchmark))
    for name, values in arrays:
        digest.update(f"\x1e{name}\x1e".encode())
        digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return digest.hexdigest()
