"""The drift report: drift.json (summary), drift.csv (one row per day) and drift.png (timeline).

`drift_report` takes plain arrays, so an app that reads a checkpoint, a backtest report or a
walk-forward fold can all call it: it runs the DriftMonitor and writes the three files
atomically (ploutos.io: temporary file in the same folder, fsync, rename), so a crashed run
never leaves a half-written report behind.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from ploutos.drift.config import DriftSettings, drift_settings  # noqa: E402
from ploutos.drift.monitor import DriftMonitor, DriftResult  # noqa: E402
from ploutos.errors import ConfigError, DataError  # noqa: E402
from ploutos.io import atomic_write_bytes, atomic_write_text  # noqa: E402

JSON_FILE, CSV_FILE, CHART_FILE = "drift.json", "drift.csv", "drift.png"
# Heat map colour scale: a feature's score / its threshold, 1 = at the alarm line.
HEAT_MAX = 3.0


def feature_drift_scores(result: DriftResult, settings: DriftSettings) -> np.ndarray | None:
    """[days, F] each feature's drift relative to its alarm line: PSI / its threshold, or
    (PSI disabled) KS -log10(q-value) / -log10(q); None when neither test runs."""
    if "psi_ratio" in result.feature_scores:
        return result.feature_scores["psi_ratio"]
    if "ks_q" in result.feature_scores:
        with np.errstate(divide="ignore"):
            return -np.log10(result.feature_scores["ks_q"]) / -np.log10(settings.ks.q)
    return None


def group_scores(scores: np.ndarray, groups: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(group names in first-seen order, [G, days] the largest score among each group)."""
    names = list(dict.fromkeys(groups))
    index = np.asarray([names.index(g) for g in groups])
    heat = np.stack([np.nanmax(scores[:, index == g], axis=1) for g in range(len(names))])
    return names, heat


def timeline_chart(result: DriftResult, settings: DriftSettings, dates: np.ndarray,
                   returns: np.ndarray, groups: Sequence[str]) -> plt.Figure:
    """Feature-drift heat map (group x day) above the equity curve with the return-regime,
    trade and combined alarms."""
    table = result.table
    scores = feature_drift_scores(result, settings)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 7), sharex=True,
                                      gridspec_kw={"height_ratios": [1, 1]})
    x = pd.to_datetime(dates)
    if scores is not None:
        names, heat = group_scores(scores, groups)
        extent = (matplotlib.dates.date2num(x[0]), matplotlib.dates.date2num(x[-1]),
                  len(names) - 0.5, -0.5)
        image = top.imshow(np.clip(np.nan_to_num(heat), 0, HEAT_MAX), aspect="auto",
                           cmap="magma", vmin=0, vmax=HEAT_MAX, extent=extent,
                           interpolation="nearest")
        top.set_yticks(range(len(names)), names, fontsize=7)
        fig.colorbar(image, ax=top, label="drift / alarm line", pad=0.01)
    top.set_title("feature drift by group (1 = at the alarm line)")
    equity = np.cumprod(1.0 + np.nan_to_num(returns))
    bottom.plot(x, equity, color="black", lw=1, label="equity")
    if table["combined_alarm"].any():
        bottom.fill_between(x, equity.min(), equity.max(), where=table["combined_alarm"],
                            color="tab:red", alpha=0.15, label="combined alarm")
    styles = {"adwin": ("tab:orange", "volatility (ADWIN)"),
              "hddm_a": ("tab:blue", "trades (HDDM_A)"),
              "page_hinkley": ("tab:green", "Page-Hinkley"), "cusum": ("tab:purple", "CUSUM")}
    for name, (colour, label) in styles.items():
        if f"{name}_alarm" not in table:
            continue
        days = x[table[f"{name}_alarm"].to_numpy()]
        for i, day in enumerate(days):
            bottom.axvline(day, color=colour, lw=0.8, label=label if i == 0 else None)
    bottom.set_title("equity with return-regime and trade alarms")
    bottom.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def _json_ready(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def drift_report(
    features: np.ndarray | torch.Tensor,
    returns: np.ndarray | torch.Tensor,
    trades: Iterable[Sequence[float]] | np.ndarray | None,
    dates: np.ndarray,
    feature_names: Sequence[str],
    train_days: int,
    cfg_drift: DictConfig | dict[str, Any],
    out_dir: str | Path,
    feature_groups: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run every detector over days train_days .. T - 1 (days before are the training period)
    and write drift.json, drift.csv and drift.png into out_dir; returns the summary.

    features [T, A, F], returns [T] (daily simple returns of the portfolio, NaN where none),
    trades (day index, pnl) pairs, dates [T], one name (and optionally one group) per feature.
    """
    settings = drift_settings(cfg_drift)
    if settings is None:
        raise ConfigError("drift.name", "is 'none'; choose a detector set, e.g. drift=default")
    dates = np.asarray(dates, "datetime64[D]")
    if dates.shape[0] != np.shape(returns)[0]:
        raise DataError(f"dates: {dates.shape[0]} dates for {np.shape(returns)[0]} days")
    groups = list(feature_names) if feature_groups is None else list(feature_groups)
    if len(groups) != len(feature_names):
        raise DataError(f"feature_groups: {len(groups)} groups for {len(feature_names)} features")
    result = DriftMonitor(settings).run(features, returns, trades, train_days, feature_names)
    monitored_dates = dates[train_days:]
    table = result.table
    table.insert(0, "date", monitored_dates.astype(str))
    summary = _with_dates(result.summary, dates)
    summary["settings"] = _json_ready(asdict(settings))
    out = Path(out_dir)
    returns_np = np.asarray(returns.detach().cpu() if isinstance(returns, torch.Tensor)
                            else returns, np.float64)
    figure = timeline_chart(result, settings, monitored_dates, returns_np[train_days:], groups)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    atomic_write_bytes(out / CHART_FILE, buffer.getvalue())
    atomic_write_text(out / CSV_FILE, table.to_csv(index=False))
    summary["files"] = {"json": JSON_FILE, "csv": CSV_FILE, "chart": CHART_FILE}
    atomic_write_text(out / JSON_FILE, json.dumps(_json_ready(summary), indent=2) + "\n")
    return summary


def _with_dates(summary: dict[str, Any], dates: np.ndarray) -> dict[str, Any]:
    """The summary with every first_alarm_day also given as a date, and the monitored span."""
    out = _json_ready(summary)  # a copy: _json_ready rebuilds every dict and list
    train_days = summary["train_days"]
    out["first_date"] = str(dates[train_days]) if train_days < len(dates) else None
    out["last_date"] = str(dates[-1])
    for entry in (*out["detectors"].values(), out["combined"]):
        day = entry.get("first_alarm_day")
        entry["first_alarm_date"] = None if day is None else str(dates[day])
    return out
