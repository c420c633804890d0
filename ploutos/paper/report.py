"""The daily report of a paper account: report.html and equity.png in reports/<trade date>/.

Equity (the ledger's NAV) is drawn against the engine's expected equity for the same
decisions (what the backtest computes) with a band of +-2 standard deviations of the expected
curve's own daily log returns, widening with the square root of time; then every alarm of
the day (and the kill switch, when set), the drift detectors' verdicts, the positions, and
the day's orders and fills.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np

from ploutos.io import atomic_write_bytes, atomic_write_text
from ploutos.paper.drift import drift_rows
from ploutos.paper.ledger import LedgerState

BAND_SIGMAS = 2.0


def equity_band(expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) around the expected curve: exp(-+2 sigma sqrt(t)), sigma the std of its
    daily log returns (0 for fewer than three points)."""
    logret = np.diff(np.log(expected))
    sigma = float(np.std(logret, ddof=1)) if logret.size >= 2 else 0.0
    width = BAND_SIGMAS * sigma * np.sqrt(np.arange(expected.size))
    return expected * np.exp(-width), expected * np.exp(width)


def _png(dates: list[str], nav: np.ndarray, expected: np.ndarray) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.array(dates, dtype="datetime64[D]")
    low, high = equity_band(expected)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.fill_between(x, low, high, color="tab:gray", alpha=0.25, label="expected +- 2 sigma")
    ax.plot(x, expected, color="tab:gray", lw=1, label="expected (engine)")
    ax.plot(x, nav, color="tab:blue", lw=1.5, label="NAV (ledger)")
    ax.set_ylabel("equity")
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _table(header: list[str], rows: list[list[object]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(state: LedgerState, trade_date: str, folder: Path) -> dict[str, Path]:
    """Write reports/<trade_date>/{report.html, equity.png} under `folder`."""
    out = folder / "reports" / trade_date
    days = sorted(d for d in state.navs if d <= trade_date)
    nav = np.array([state.navs[d]["nav"] for d in days])
    expected = np.array([state.navs[d]["expected"] for d in days])
    files = {"report": out / "report.html"}
    if days:
        files["equity"] = atomic_write_bytes(out / "equity.png", _png(days, nav, expected))
    account = state.account or {}
    today = state.navs.get(trade_date)
    summary = [
        ["account", account.get("name", "?")],
        ["broker", account.get("broker", "?")],
        ["trade date", trade_date],
        ["session", (state.done.get(trade_date) or {}).get("status", "not finished")],
        ["NAV", f"{today['nav']:,.2f}" if today else "-"],
        ["expected (engine)", f"{today['expected']:,.2f}" if today else "-"],
        ["cash", f"{state.cash:,.2f}"],
    ]
    positions = [[t, f"{q:.6g}"] for t, q in sorted(state.positions.items()) if q]
    orders = [[i["ticker"], i["side"], f"{i['qty']:.6g}", i["fill_date"], cid]
              for cid, i in state.intents.items() if i["trade_date"] == trade_date]  # fmt: skip
    previous = days[-2] if len(days) > 1 else ""
    fills = [[f["ticker"], f["side"], f"{f['qty']:.6g}", f"{f['price']:.4f}", f"{f['fee']:.4f}",
              f["status"]] for f in state.fills.values()
             if previous < f["fill_date"] <= trade_date]  # fmt: skip
    alarms = [[a.trade_date, a.payload["code"], a.payload["message"]]
              for a in state.alarms if a.trade_date == trade_date]  # fmt: skip
    if state.kill is not None:
        alarms.append([state.kill.trade_date, "KILL SWITCH", state.kill.payload["message"]])
    chart = '<img src="equity.png" alt="equity">' if days else ""
    drift = state.drift.get(trade_date)
    drift_html = "<p>drift detection off (drift=none), or no verdict this day</p>"
    if drift is not None:
        verdict = "ON" if drift["combined"] else "off"
        drift_html = (f"<p>combined alarm {verdict}: {drift['votes']} detectors active</p>"
                      + _table(["detector", "statistic", "threshold", "alarm", "held"],
                               drift_rows(drift)))  # fmt: skip
    text = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Paper account {html.escape(str(account.get("name", "")))} {trade_date}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:left}}
.alarm{{color:#b00}}</style></head><body>
<h1>Paper account {html.escape(str(account.get("name", "")))}: {trade_date}</h1>
{_table(["", ""], summary)}
<h2>Equity</h2>{chart}
<h2 class="alarm">Alarms</h2>{_table(["date", "code", "message"], alarms)}
<h2>Drift (detectors calibrated on the checkpoint's training period)</h2>{drift_html}
<h2>Positions</h2>{_table(["ticker", "shares"], positions)}
<h2>Orders placed for the next session</h2>
{_table(["ticker", "side", "shares", "fill date", "client order id"], orders)}
<h2>Fills since the previous session</h2>
{_table(["ticker", "side", "shares", "price", "fee", "status"], fills)}
</body></html>
"""
    atomic_write_text(files["report"], text)
    return files
