"""Drift detection: five detectors calibrated on the training period (see monitor.py).

    DriftMonitor(settings).run(features, returns, trades, train_days) -> DriftResult
    drift_report(features, returns, trades, dates, feature_names, train_days, cfg, out_dir)
"""

from ploutos.drift.config import DriftSettings, drift_settings
from ploutos.drift.monitor import DriftMonitor, DriftResult
from ploutos.drift.report import drift_report

__all__ = ["DriftMonitor", "DriftResult", "DriftSettings", "drift_report", "drift_settings"]
