"""Backtest reports: metrics.json, CSV tables, plots and one HTML page a person opens.

Every file is written atomically (ploutos.io: temporary file, fsync, rename), so a
crashed or interrupted report never leaves a half-written metrics.json or CSV that a later
script could mistake for a result. Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ploutos.evaluation.backtest import AGENT, BacktestResult  # noqa: E402
from ploutos.evaluation.metrics import drawdown_curve  # noqa: E402
from ploutos.evaluation.timing import timing_report  # noqa: E402
from ploutos.io import atomic_write_bytes, atomic_write_text  # noqa: E402

# metrics.json keys per strategy, in the order the issue lists them.
METRIC_KEYS = (
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_days",
    "win_rate",
    "profit_factor",
    "trades",
    "fees",
    "turnover",
    "exposure",
    "buy_quality",
    "sell_quality",
)
# The console and HTML table: (metric, header, format).
TABLE_COLUMNS = (
    ("total_return", "return", "{:+.2%}"),
    ("annual_return", "CAGR", "{:+.2%}"),
    ("annual_volatility", "vol", "{:.2%}"),
    ("sharpe", "Sharpe", "{:+.2f}"),
    ("sharpe_ci", "Sharpe 95% CI", None),
    ("sortino", "Sortino", "{:+.2f}"),
    ("calmar", "Calmar", "{:+.2f}"),
    ("max_drawdown", "max DD", "{:.2%}"),
    ("win_rate", "win", "{:.1%}"),
    ("trades", "trades", "{:.0f}"),
    ("exposure", "exposure", "{:.1%}"),
    ("buy_quality", "buy q", "{:.1%}"),
    ("sell_quality", "sell q", "{:.1%}"),
)




def write_json(path: Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return atomic_write_text(path, frame.to_csv(index=False))


def save_figure(fig: plt.Figure, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


# ---- tables ----------------------------------------------------------------------------------


def metrics_document(result: BacktestResult, extra: dict | None = None) -> dict:
    """The metrics.json content: settings, windows, and per strategy the issue's metrics,
    the Sharpe CI and (for traded strategies) the pooled timing analysis."""
    strategies = {}
    for name, m in result.metrics.items():
        entry = {k: m[k] for k in METRIC_KEYS}
        entry["sharpe_ci"] = m["sharpe_ci"]
        entry["sharpe_std"] = m["sharpe_std"]
        entry["windows"] = int(m["windows"])
        entry["days"] = m["days"]
        entry["closed_trades"] = m["closed_trades"]
        if "edge_capture" in m:  # planted-signal markets: Sharpe / the oracle's Sharpe
            entry["edge_capture"] = m["edge_capture"]
        if name in result.timing:
            entry["timing"] = result.timing[name]
        strategies[name] = entry
    return {
        "description": result.description,
        "settings": result.settings,
        "windows": [
            {"start": str(d[0]), "end": str(d[-1]), "steps": int(len(d) - 1)} for d in result.dates
        ],
        **(extra or {}),
        "strategies": strategies,
    }


def _cell(metrics: dict, key: str, fmt: str | None) -> str:
    if key == "sharpe_ci":
        ci = metrics["sharpe_ci"]
        return f"[{ci['low']:+.2f}, {ci['high']:+.2f}]"
    return fmt.format(metrics[key])


def metrics_table(metrics: dict[str, dict], columns: Sequence = TABLE_COLUMNS) -> pd.DataFrame:
    """Strategies as rows, formatted metric strings as columns (edge capture too when every
    strategy has it: a backtest with the oracle of a planted market)."""
    if metrics and all("edge_capture" in m for m in metrics.values()):
        columns = (*columns, ("edge_capture", "edge capture", "{:+.2f}"))
    rows = {
        name: {hdr: _cell(m, key, fmt) for key, hdr, fmt in columns} for name, m in metrics.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def console_table(metrics: dict[str, dict]) -> str:
    return metrics_table(metrics).to_string()


def equity_frame(result: BacktestResult) -> pd.DataFrame:
    """window, date and one equity column per strategy (one block of rows per window)."""
    blocks = []
    for w, dates in enumerate(result.dates):
        block = {"window": w, "date": pd.to_datetime(dates).strftime("%Y-%m-%d")}
        block.update({name: runs[w].equity for name, runs in result.runs.items()})
        blocks.append(pd.DataFrame(block))
    return pd.concat(blocks, ignore_index=True)


def trades_frame(result: BacktestResult, strategy: str = AGENT) -> pd.DataFrame:
    """Every fill of `strategy`: window, date, ticker, side, shares, price, fee, realized_pnl."""
    rows = []
    for w, run in enumerate(result.runs[strategy]):
        log = run.log
        if log is None:
            continue
        fill_dates = pd.to_datetime(log.dates[1:]).strftime("%Y-%m-%d")
        for side, mask in (("BUY", log.buy_mask[:, 0]), ("SELL", log.sell_mask[:, 0])):
            steps, assets = np.nonzero(mask)
            for t, a in zip(steps, assets, strict=True):
                rows.append(
                    {
                        "window": w,
                        "date": fill_dates[t],
                        "ticker": log.tickers[a],
                        "side": side,
                        "shares": abs(float(log.filled_shares[t, 0, a])),
                        "price": float(log.fill_price[t, 0, a]),
                        "fee": float(log.fees[t, 0, a]),
                        "realized_pnl": float(log.realized_pnl[t, 0, a]),
                    }
                )
    columns = ["window", "date", "ticker", "side", "shares", "price", "fee", "realized_pnl"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["window", "date", "ticker"], kind="stable", ignore_index=True)


def actions_frame(result: BacktestResult, strategy: str = AGENT) -> pd.DataFrame:
    """The decisions of `strategy` per decision day: HOLD/BUY/SELL per ticker (discrete) or
    the raw weight logits per ticker and cash (weights mode)."""
    blocks = []
    tickers = list(result.tickers)
    for w, run in enumerate(result.runs[strategy]):
        log = run.log
        actions = log.actions[:, 0]
        block = pd.DataFrame(
            {"window": w, "date": pd.to_datetime(log.dates[:-1]).strftime("%Y-%m-%d")}
        )
        for name, column in log.action_space.label_columns(tickers, actions).items():
            block[name] = column
        blocks.append(block)
    return pd.concat(blocks, ignore_index=True)


# ---- plots -----------------------------------------------------------------------------------

_STYLE = {
    AGENT: {"color": "black", "lw": 2.0, "zorder": 5},
    "buy_and_hold": {"color": "tab:blue"},
    "index": {"color": "tab:gray", "ls": "--"},
    "cash": {"color": "tab:green", "ls": ":"},
    "random": {"color": "tab:orange", "alpha": 0.8},
    "momentum": {"color": "tab:purple"},
}


def _curves(result: BacktestResult, strategy: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, equity) for plotting: dates for one window, else the mean growth of $1 by day
    of window over all windows."""
    runs = result.runs[strategy]
    if len(runs) == 1:
        return result.dates[0], runs[0].equity
    growth = np.stack([r.equity / r.equity[0] for r in runs])
    return np.arange(growth.shape[1]), growth.mean(axis=0) * runs[0].equity[0]


def plot_equity(result: BacktestResult, path: Path, title: str = "Equity") -> Path:
    fig, ax = plt.subplots(figsize=(11, 5))
    for name in result.runs:
        x, y = _curves(result, name)
        ax.plot(x, y, label=name, **_STYLE.get(name, {}))
    many = len(result.windows) > 1
    ax.set_xlabel("day of window (mean over windows)" if many else "date")
    ax.set_ylabel("equity")
    ax.set_title(f"{title}: {result.description}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    fig.autofmt_xdate()
    return save_figure(fig, path)


def plot_drawdown(result: BacktestResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(11, 3.8))
    for name in result.runs:
        x, y = _curves(result, name)
        ax.plot(x, 100.0 * drawdown_curve(y), label=name, **_STYLE.get(name, {}))
    ax.set_ylabel("drawdown (%)")
    ax.set_title("Drawdown from the running peak")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    fig.autofmt_xdate()
    return save_figure(fig, path)


def plot_trades(result: BacktestResult, path: Path, strategy: str = AGENT) -> Path:
    """Each ticker's close over the backtested days with the strategy's buys and sells."""
    market = result.market
    lo = min(w.start for w in result.windows)
    hi = max(w.stop for w in result.windows)
    dates = market.dates[lo:hi]
    close = market.close[lo:hi].cpu().numpy()
    trades = trades_frame(result, strategy)
    n = len(result.tickers)
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.2 * n), sharex=True, squeeze=False)
    for a, (ax, ticker) in enumerate(zip(axes[:, 0], result.tickers, strict=True)):
        ax.plot(dates, close[:, a], color="tab:gray", lw=1.0)
        mine = trades[trades.ticker == ticker]
        for side, marker, color in (("BUY", "^", "tab:green"), ("SELL", "v", "tab:red")):
            rows = mine[mine.side == side]
            ax.scatter(
                pd.to_datetime(rows.date), rows.price, marker=marker, color=color, s=28,
                label=f"{side} ({len(rows)})", zorder=3,
            )  # fmt: skip
        ax.set_ylabel(ticker)
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].set_title(f"Trades of {strategy} on each ticker's close (fills at the fill price)")
    fig.autofmt_xdate()
    return save_figure(fig, path)


def forward_moves(result: BacktestResult, strategy: str = AGENT) -> dict[str, np.ndarray]:
    """close[fill day + H] / fill price - 1 of every judged buy and sell (same rule and
    closes as the timing analysis: only days inside each evaluated window's split end)."""
    h = result.horizon
    close = result.market.close.cpu().numpy()
    out: dict[str, list[np.ndarray]] = {"buy": [], "sell": []}
    for run in result.runs[strategy]:
        log = run.log
        if log is None:
            continue
        last = int(log.days[-1])
        later = log.fill_days + h
        ok = later <= last
        future = close[np.minimum(later, last)]  # [D, A]
        move = future / log.fill_price[:, 0] - 1.0
        for side, mask in (("buy", log.buy_mask[:, 0]), ("sell", log.sell_mask[:, 0])):
            out[side].append(move[mask & ok[:, None]])
    return {k: np.concatenate(v) if v else np.empty(0) for k, v in out.items()}


def plot_timing(result: BacktestResult, path: Path, strategy: str = AGENT) -> Path:
    moves = forward_moves(result, strategy)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, side, good_label in (
        (axes[0], "buy", "good buys: price rose"),
        (axes[1], "sell", "good sells: price fell"),
    ):
        m = 100.0 * moves[side]
        good = m > 0 if side == "buy" else m < 0
        bins = np.linspace(min(m.min(), -1.0), max(m.max(), 1.0), 31) if m.size else 10
        ax.hist(
            m[good], bins=bins, color="tab:green", alpha=0.7, label=f"{good_label} ({good.sum()})"
        )
        ax.hist(m[~good], bins=bins, color="tab:red", alpha=0.7, label=f"bad ({(~good).sum()})")
        ax.axvline(0.0, color="black", lw=1.0)
        ax.set_xlabel(f"price change {result.horizon} days after the fill (%)")
        ax.set_title(f"{side.upper()} timing ({m.size} judged)")
        ax.legend(fontsize=8)
    fig.suptitle(f"Timing of {strategy}'s trades (horizon {result.horizon} days)")
    return save_figure(fig, path)


# ---- the whole report ------------------------------------------------------------------------

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}img{max-width:100%;margin:1em 0}pre{background:#f6f6f6;padding:1em}"
)


def html_page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """A standalone HTML page; each section is (heading, already-escaped HTML body)."""
    body = "".join(f"<h2>{html.escape(h)}</h2>\n{b}\n" for h, b in sections)
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>\n{body}"
        "</body></html>\n"
    )


def image_tag(name: str, alt: str) -> str:
    return f"<img src='{html.escape(name)}' alt='{html.escape(alt)}'>"


def write_backtest_report(
    result: BacktestResult,
    out_dir: Path,
    title: str = "Backtest",
    extra: dict | None = None,
    more_sections: Sequence[tuple[str, str]] = (),
) -> dict[str, Path]:
    """Write metrics.json, equity/trades/actions CSVs, the plots and report.html; each of
    more_sections, (heading, escaped HTML body), goes before the file list."""
    out = Path(out_dir)
    files = {
        "metrics": write_json(out / "metrics.json", metrics_document(result, extra)),
        "equity": write_csv(out / "equity.csv", equity_frame(result)),
        "trades": write_csv(out / "trades.csv", trades_frame(result)),
        "actions": write_csv(out / "actions.csv", actions_frame(result)),
        "equity_png": plot_equity(result, out / "equity.png", title),
        "drawdown_png": plot_drawdown(result, out / "drawdown.png"),
        "trades_png": plot_trades(result, out / "trades.png"),
        "timing_png": plot_timing(result, out / "timing.png"),
    }
    timing = result.timing.get(AGENT)
    sections = [
        (
            "Setup",
            f"<p>{html.escape(result.description)}</p>"
            f"<pre>{html.escape(json.dumps(extra or {}, indent=2, default=str))}</pre>",
        ),
        ("Metrics (agent beside the baselines)", metrics_table(result.metrics).to_html()),
        ("Equity", image_tag("equity.png", "equity vs baselines")),
        ("Drawdown", image_tag("drawdown.png", "drawdown")),
        ("Trades", image_tag("trades.png", "trades on each ticker's price chart")),
        (
            "Timing",
            image_tag("timing.png", "buy and sell timing histograms")
            + (f"<pre>{html.escape(timing_report(timing))}</pre>" if timing else ""),
        ),
        *more_sections,
        ("Files", "<p>metrics.json, equity.csv, trades.csv, actions.csv</p>"),
    ]
    files["report"] = atomic_write_text(out / "report.html", html_page(title, sections))
    return files


# ---- the compare app -------------------------------------------------------------------------


def tests_table(tests: Sequence[dict]) -> pd.DataFrame:
    rows = [
        {
            "A": t["a"],
            "B": t["b"],
            "Sharpe A": f"{t['sharpe_a']:+.3f}",
            "Sharpe B": f"{t['sharpe_b']:+.3f}",
            "A - B": f"{t['diff']:+.3f}",
            f"{t['confidence']:.0%} CI": f"[{t['low']:+.3f}, {t['high']:+.3f}]",
            "p-value": f"{t['p_value']:.4f}",
        }
        for t in tests
    ]
    return pd.DataFrame(rows)


def plot_compare_equity(comparison: Any, path: Path) -> Path:
    """Every model's equity (and the baselines of the first backtest) on the same days."""
    first = comparison.results[comparison.names[0]]
    fig, ax = plt.subplots(figsize=(11, 5))
    palette = plt.get_cmap("tab10")
    for i, name in enumerate(comparison.names):
        x, y = _curves(comparison.results[name], AGENT)
        ax.plot(x, y, label=name, color=palette(i % 10), lw=2.0, zorder=5)
    for base in first.strategies:
        if base != AGENT:
            x, y = _curves(first, base)
            ax.plot(x, y, label=base, color="tab:gray", alpha=0.6, lw=1.0,
                    ls=_STYLE.get(base, {}).get("ls", "-"))  # fmt: skip
    ax.set_title(f"Models on the same days: {comparison.description}")
    ax.set_ylabel("equity")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    fig.autofmt_xdate()
    return save_figure(fig, path)


def write_compare_report(comparison: Any, out_dir: Path, extra: dict | None = None) -> dict:
    """compare.json, compare.csv (side-by-side table), equity.csv, equity.png, report.html."""
    out = Path(out_dir)
    table = metrics_table(comparison.metrics)
    equity = equity_frame(comparison.results[comparison.names[0]]).rename(
        columns={AGENT: comparison.names[0]}
    )
    for name in comparison.names[1:]:
        equity[name] = equity_frame(comparison.results[name])[AGENT].to_numpy()
    baselines = [c for c in equity.columns if c not in ("window", "date", *comparison.names)]
    equity = equity[["window", "date", *comparison.names, *baselines]]
    doc = {
        "description": comparison.description,
        **(extra or {}),
        "windows": [
            {"start": str(d[0]), "end": str(d[-1]), "steps": int(len(d) - 1)}
            for d in comparison.results[comparison.names[0]].dates
        ],
        "models": comparison.names,
        "metrics": {
            name: {k: m[k] for k in (*METRIC_KEYS, "sharpe_ci", "sharpe_std", "windows")}
            for name, m in comparison.metrics.items()
        },
        "tests": comparison.tests,
    }
    files = {
        "json": write_json(out / "compare.json", doc),
        "table": atomic_write_text(out / "compare.csv", table.to_csv(index_label="strategy")),
        "equity": write_csv(out / "equity.csv", equity),
        "equity_png": plot_compare_equity(comparison, out / "equity.png"),
    }
    sections = [
        ("Setup", f"<p>{html.escape(comparison.description)}</p>"),
        ("Side by side", table.to_html()),
        (
            "Paired bootstrap test of the Sharpe difference",
            tests_table(comparison.tests).to_html(index=False),
        ),
        ("Equity", image_tag("equity.png", "equity curves of every model")),
    ]
    files["report"] = atomic_write_text(
        out / "report.html", html_page("Model comparison", sections)
    )
    return files


