"""The embedded real sample: skfolio's S&P 500 daily adjusted closes (BSD-3-Clause).

20 US large caps and the S&P 500 index, 1990-01-02 to 2022-12-28, closes only. The file
and its licence notice live in ploutos/data/sample/ (rebuilt by scripts/build_sample_data.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from ploutos.data.bars import Bars
from ploutos.data.validate import check_known

SAMPLE_FILE = "sp500_closes.csv.gz"
INDEX_COLUMN = "SP500"
NOTES = (
    "closes only: the sample holds daily adjusted closes, no open/high/low/volume, so fills "
    "use the next close and only close-based features apply",
    "data: skfolio 1.12.2 S&P 500 datasets (BSD-3-Clause), see ploutos/data/sample/"
    "LICENSE-skfolio.txt",
    "survivorship: the tickers are today's survivors (chosen in 2022), so every strategy's "
    "absolute return, buy-and-hold's included, is flattered; compare strategies, not levels",
)


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    path = resources.files("ploutos.data") / "sample" / SAMPLE_FILE
    with resources.as_file(path) as file:
        return pd.read_csv(file, index_col="Date", compression="gzip")


def load_sample(tickers: Sequence[str] | None, benchmark: str | None) -> Bars:
    """Closes of `tickers` (all 20 when None) and of `benchmark` (a column, e.g. SP500)."""
    table = _table()
    available = [c for c in table.columns if c != INDEX_COLUMN]
    tickers = list(available if tickers is None else tickers)
    check_known(tickers, available, "sample")
    if benchmark is not None:
        check_known([benchmark], list(table.columns), "sample (benchmark)")
    return Bars(
        dates=np.asarray(table.index, dtype="datetime64[D]"),
        tickers=tuple(tickers),
        close=table[tickers].to_numpy(np.float64),
        benchmark=None if benchmark is None else table[benchmark].to_numpy(np.float64),
        benchmark_name=benchmark,
        source="sample",
        notes=NOTES,
    )
