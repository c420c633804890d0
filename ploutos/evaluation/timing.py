"""The seed's "why it fails" analysis: were buys made low and sells made high?

A BUY filled on day d at price p is good when close[d + H] > p (the price rose over the next
H days), bad otherwise; a SELL is good when close[d + H] < p (the price fell after selling),
bad otherwise. A trade with d + H beyond the last day of `close` cannot be judged and is
counted as unjudged, never as good or bad. This is an after-the-fact diagnosis: it looks
ahead by design and must never feed observations or an evaluation reward.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _judge(
    mask: np.ndarray,
    close: np.ndarray,
    fill_days: np.ndarray,
    price: np.ndarray,
    horizon: int,
    rises_are_good: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-asset counts (good [A], bad [A], unjudged [A]) of the trades in mask [D, A]."""
    n_days = close.shape[0]
    later = fill_days + horizon  # [D]
    judged_day = later < n_days
    future = close[np.minimum(later, n_days - 1)]  # [D, A]; rows with no future masked below
    moved = future > price if rises_are_good else future < price
    judged = mask & judged_day[:, None]
    good = (judged & moved).sum(axis=0)
    bad = (judged & ~moved).sum(axis=0)
    unjudged = (mask & ~judged_day[:, None]).sum(axis=0)
    return good, bad, unjudged


def _share(good: int, bad: int) -> float:
    return good / (good + bad) if good + bad > 0 else 0.0


def timing_quality(
    buy_mask: np.ndarray,
    sell_mask: np.ndarray,
    close: np.ndarray,
    fill_days: np.ndarray,
    horizon: int = 5,
    fill_price: np.ndarray | None = None,
    tickers: Sequence[str] | None = None,
) -> dict:
    """Timing counts and shares, overall and per ticker.

    buy_mask, sell_mask: bool [D, A], a fill of that side on that row's fill day.
    close: float [T, A], closes on the market calendar; only days < T can judge a trade, so
      pass close[:split.stop] to keep the judgement inside the evaluated split.
    fill_days: int [D], market day index of each row's fills.
    fill_price: float [D, A], the price each trade filled at; None means trades filled at
      that day's close (close-only data).
    Returns buy_quality and sell_quality (share good among judged trades, 0.0 with none
    judged), buy_good/buy_bad/buy_unjudged and the same for sells, and `per_ticker`.
    """
    if horizon < 1:
        raise ValueError(f"timing horizon must be >= 1 day, got {horizon}")
    buy_mask = np.asarray(buy_mask, dtype=bool)
    sell_mask = np.asarray(sell_mask, dtype=bool)
    close = np.asarray(close, dtype=np.float64)
    fill_days = np.asarray(fill_days, dtype=np.int64)
    price = close[fill_days] if fill_price is None else np.asarray(fill_price, dtype=np.float64)
    names = list(tickers) if tickers is not None else [str(i) for i in range(close.shape[1])]

    buy = _judge(buy_mask, close, fill_days, price, horizon, rises_are_good=True)
    sell = _judge(sell_mask, close, fill_days, price, horizon, rises_are_good=False)
    out: dict = {"horizon": horizon}
    for side, (good, bad, unjudged) in (("buy", buy), ("sell", sell)):
        out[f"{side}_good"] = int(good.sum())
        out[f"{side}_bad"] = int(bad.sum())
        out[f"{side}_unjudged"] = int(unjudged.sum())
        out[f"{side}_quality"] = _share(int(good.sum()), int(bad.sum()))
    out["per_ticker"] = {
        name: {
            f"{side}_{kind}": int(counts[k][i])
            for side, counts in (("buy", buy), ("sell", sell))
            for k, kind in enumerate(("good", "bad", "unjudged"))
        }
        | {
            "buy_quality": _share(int(buy[0][i]), int(buy[1][i])),
            "sell_quality": _share(int(sell[0][i]), int(sell[1][i])),
        }
        for i, name in enumerate(names)
    }
    return out


_LABELS = {
    "buy": ("BUY", "Good (buy low)", "Bad (buy high)"),
    "sell": ("SELL", "Good (sell high)", "Bad (sell low)"),
}


def _line(side: str, q: dict, horizon: int) -> str:
    title, good_label, bad_label = _LABELS[side]
    good, bad, unjudged = q[f"{side}_good"], q[f"{side}_bad"], q[f"{side}_unjudged"]
    total = good + bad
    good_pct = 100.0 * good / total if total else 0.0
    bad_pct = 100.0 * bad / total if total else 0.0
    text = (
        f"{title} timing: {good_label}: {good} ({good_pct:.1f}%)"
        f" / {bad_label}: {bad} ({bad_pct:.1f}%)"
    )
    if unjudged:
        text += f" / unjudged (within {horizon} days of the end): {unjudged}"
    return text


def _n_trades(q: dict) -> int:
    return sum(q[f"{side}_{kind}"] for side in _LABELS for kind in ("good", "bad", "unjudged"))


def timing_report(quality: dict, per_ticker: bool = True) -> str:
    """The seed's printout of a `timing_quality` result, overall then per traded ticker."""
    h = quality["horizon"]
    out = [f"Timing quality (horizon {h} days)"]
    out += [f"  {_line(side, quality, h)}" for side in _LABELS]
    if per_ticker:
        for name, q in quality["per_ticker"].items():
            if _n_trades(q):
                out.append(f"  {name}:")
                out += [f"    {_line(side, q, h)}" for side in _LABELS]
    return "\n".join(out)
