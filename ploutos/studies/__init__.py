"""Studies: read a Hydra multirun, tabulate it, plot it and judge its winner (deflated Sharpe)."""

from ploutos.studies.collect import JobRecord, read_multirun, swept_keys
from ploutos.studies.deflated_sharpe import (
    DeflatedSharpe,
    deannualize,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)
from ploutos.studies.report import StudyReport, build_report, verdict

__all__ = [
    "DeflatedSharpe",
    "JobRecord",
    "StudyReport",
    "build_report",
    "deannualize",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "read_multirun",
    "swept_keys",
    "verdict",
]
