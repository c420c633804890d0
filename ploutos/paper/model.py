"""What a paper account trades: one checkpoint's policy, or an ensemble of checkpoints, over
each session's market; and the checks that the session's market is the one it was trained on.

The checkpoints are read once; each session rebuilds the market from that day's bars with the
checkpoint's train-fitted normalizer (never refitted) and puts the policy over it. Features
are causal, so a day's features do not depend on how much history follows it: the market of
a session and the backtest's market agree on every day both hold.

Checks (each a one-line error naming the key or path):
- `data` overrides may only say where the same bars come from (another source, file or
  cache); a key that changes the market (start, tickers, benchmark, splits, a synthetic
  generator's parameters, ...) is refused (ConfigError naming data.KEY);
- the checkpoint's own bars, read once from its data config, must hash to its stored data
  fingerprint (a source whose data grew since training: the prefix that does), and every
  session's bars must equal them on the days both hold (DataError naming the checkpoint, the
  day, ticker and field): a provider that revised history, or an override pointing at other
  data, stops trading before any decision;
- an ensemble's members must share tickers, data fingerprint, normalizer and features (they
  trade on one market), and a ledger's account keeps the checkpoints it was opened with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ploutos.data import data_fingerprint, load_bars
from ploutos.data.bars import Bars
from ploutos.data.validate import day_str
from ploutos.ensemble import EnsembleSpec, build_ensemble
from ploutos.ensemble.members import member_paths
from ploutos.env.params import EnvParams
from ploutos.errors import ConfigError, DataError
from ploutos.evaluation.checkpoint import (
    CheckpointError,
    LoadedModel,
    policy_from_checkpoint,
    read_checkpoint,
)
from ploutos.market import Market
from ploutos.models.policy import Policy
from ploutos.obs.builders import ObsBuilder, make_obs_builder, obs_lookback
from ploutos.pipeline import MarketReport, build_market

# Data keys an override may change: where the same bars are read from, never what they are.
SOURCE_KEYS = ("source", "path", "cache_dir", "end", "retries", "backoff_seconds", "columns",
               "date_format")  # fmt: skip
# How far back a grown source is searched for the prefix that is the checkpoint's bars.
MAX_PREFIX_SEARCH = 2520


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Member:
    """One checkpoint file, read."""

    path: Path
    ckpt: dict[str, Any]
    cfg: DictConfig  # the checkpoint's config as trained
    meta: dict[str, Any]
    sha256: str

    @classmethod
    def read(cls, path: str | Path) -> Member:
        path = Path(path)
        ckpt = read_checkpoint(path)
        for key in ("cfg", "market_meta"):
            if not ckpt.get(key):
                raise CheckpointError(f"{path}: no '{key}' in the checkpoint")
        meta = dict(ckpt["market_meta"])
        return cls(path, ckpt, OmegaConf.create(ckpt["cfg"]), meta, file_sha256(path))


def check_data_overrides(
    trained: Mapping[str, Any], overrides: Mapping[str, Any], path: Path
) -> None:
    """Refuse an override of a data key that changes the market (see the module docstring)."""
    for key, value in overrides.items():
        if key in SOURCE_KEYS or (key == "tickers" and value is None):
            continue
        if key not in trained or trained[key] != value:
            raise ConfigError(
                f"data.{key}",
                f"{path} was trained with data.{key}={trained.get(key)!r}, the session's market "
                f"would use {value!r}; paper data overrides may only change "
                f"{', '.join(SOURCE_KEYS)}",
            )


def _same_market(ref: Member, other: Member) -> str | None:
    """What keeps `other` from trading on ref's market, or None."""
    for key in ("tickers", "fingerprint", "feature_names", "normalizer_state", "features"):
        if other.meta.get(key) != ref.meta.get(key):
            return f"market_meta.{key} differs"
    if OmegaConf.to_container(other.cfg.data) != OmegaConf.to_container(ref.cfg.data):
        return "data config differs"
    a, b = (EnvParams.from_config(m.cfg.env).action_mode for m in (other, ref))
    return None if a == b else f"env.action_mode {a} vs {b}"


def first_difference(ours: Bars, theirs: Bars) -> str:
    """Where two bars of the same days first differ: 'DATE TICKER FIELD (a vs b)'."""
    if ours.tickers != theirs.tickers:
        return f"tickers {list(ours.tickers)} vs {list(theirs.tickers)}"
    if not np.array_equal(ours.dates, theirs.dates):
        day = int(np.flatnonzero(ours.dates != theirs.dates)[0])
        return f"day {day}: dated {day_str(ours.dates[day])} vs {day_str(theirs.dates[day])}"
    for name in sorted(set(ours.columns) | set(theirs.columns)):
        a, b = getattr(ours, name), getattr(theirs, name)
        if a is None or b is None:
            return f"field {name} present in one only"
        differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        if differ.any():
            t, c = np.argwhere(differ)[0]
            return (f"{day_str(ours.dates[t])} {ours.tickers[c]} {name} "
                    f"({a[t, c]!r} vs {b[t, c]!r})")  # fmt: skip
    return "benchmark"


@dataclass
class SessionMarket:
    market: Market
    policy: Policy
    obs_builder: ObsBuilder
    report: MarketReport | None = None


@dataclass
class PaperModel:
    path: Path  # the (reference member's) checkpoint
    ckpt: dict[str, Any]
    cfg: DictConfig  # the (reference member's) config, data overrides applied
    meta: dict[str, Any]
    sha256: str  # of the checkpoint file; of every member's hash for an ensemble
    members: list[Member] = field(default_factory=list)
    ensemble: EnsembleSpec | None = None
    # Built on the first session: a policy holds weights only and reads whichever market its
    # caller's obs builder renders, so one instance serves every session of the process.
    _policy: Policy | None = None
    ensemble_doc: dict[str, Any] | None = None
    _trained_bars: Bars | None = None

    @classmethod
    def load(
        cls,
        path: str | Path | Sequence[str | Path],
        data_overrides: Mapping[str, Any] | None = None,
        ensemble: EnsembleSpec | None = None,
    ) -> PaperModel:
        """Read the checkpoint (for an ensemble, `path` is the list of members or one
        multirun folder; ensemble.members, when set, takes its place). `data_overrides`
        replace keys of its data config: another source, file or cache for the same bars
        (e.g. csv files that grow every day)."""
        if ensemble is None:
            members = [Member.read(str(path))]
        else:
            paths, _ = member_paths(ensemble.members or path, ensemble.top_k)
            members = [Member.read(p) for p in paths]
        ref = max(members, key=lambda m: obs_lookback(m.cfg.obs))
        for m in members:
            diff = _same_market(ref, m)
            if diff is not None:
                raise CheckpointError(f"ensemble member {m.path} differs from {ref.path}: {diff}")
        overrides = dict(data_overrides or {})
        check_data_overrides(OmegaConf.to_container(ref.cfg.data, resolve=True), overrides,
                             ref.path)  # fmt: skip
        cfg = OmegaConf.create(OmegaConf.to_container(ref.cfg, resolve=True))
        cfg.data = OmegaConf.merge(cfg.data, overrides, {"tickers": ref.meta["tickers"]})
        sha = ref.sha256 if ensemble is None else hashlib.sha256(
            "\n".join(m.sha256 for m in members).encode()).hexdigest()
        return cls(ref.path, ref.ckpt, cfg, ref.meta, sha, members, ensemble)

    @property
    def tickers(self) -> list[str]:
        return list(self.meta["tickers"])

    @property
    def params(self) -> EnvParams:
        return EnvParams.from_config(self.cfg.env)

    @property
    def paths(self) -> list[str]:
        return [str(m.path) for m in self.members]

    def trained_bars(self) -> Bars:
        """The bars the checkpoint was trained on, read once from its own data config and
        checked against its stored fingerprint."""
        if self._trained_bars is not None:
            return self._trained_bars
        stored = self.meta.get("fingerprint")
        ref = max(self.members, key=lambda m: obs_lookback(m.cfg.obs))
        bars = load_bars(ref.cfg.data)
        found = data_fingerprint(bars) == stored
        if not found and ref.cfg.data.get("end") is None:
            # A source that grew since training (end: null): its bars up to some day are the
            # checkpoint's.
            for stop in range(bars.n_days - 1, max(0, bars.n_days - MAX_PREFIX_SEARCH), -1):
                if data_fingerprint(bars.slice_days(0, stop)) == stored:
                    bars, found = bars.slice_days(0, stop), True
                    break
        if not found:
            raise DataError(
                f"{self.path}: data fingerprint mismatch: data source "
                f"'{ref.cfg.data.get('source', '?')}' no longer gives the bars this checkpoint "
                f"was trained on (fingerprint {str(stored)[:16]})"
            )
        self._trained_bars = bars
        return bars

    def check_bars(self, bars: Bars) -> None:
        """Refuse session bars that differ from the checkpoint's on a day both hold."""
        trained = self.trained_bars()
        last = min(bars.dates[-1], trained.dates[-1])
        n_ours = int(np.searchsorted(bars.dates, last, side="right"))
        n_theirs = int(np.searchsorted(trained.dates, last, side="right"))
        ours, theirs = bars.slice_days(0, n_ours), trained.slice_days(0, n_theirs)
        if data_fingerprint(ours) != data_fingerprint(theirs):
            raise DataError(
                f"{self.path}: data fingerprint mismatch: the session's bars "
                f"(data source '{self.cfg.data.get('source', '?')}') differ from the "
                f"checkpoint's at {first_difference(ours, theirs)}"
            )

    def market(self, bars: Bars) -> tuple[Market, MarketReport]:
        """The market of `bars` with the stored normalizer; its features must be the
        checkpoint's."""
        market, report = build_market(self.cfg, self.meta["normalizer_state"], bars=bars)
        names = self.meta.get("feature_names")
        if names is not None and list(names) != list(report.feature_names):
            raise DataError(
                f"{self.path}: the session's features differ from the checkpoint's "
                f"({len(names)} stored, {len(report.feature_names)} rebuilt)"
            )
        return market, report

    def session_market(self, bars: Bars, start: str) -> SessionMarket:
        """The market of the session's bars with the policy over it; `start`: the account's
        first trade date (an ensemble scores its members on validation days before it)."""
        market, report = self.market(bars)
        if self._policy is None:
            self._policy = self._build_policy(market, report, start)
        return SessionMarket(market, self._policy, make_obs_builder(self.cfg.obs, market), report)

    def _build_policy(self, market: Market, report: MarketReport, start: str) -> Policy:
        if self.ensemble is None:
            return policy_from_checkpoint(self.ckpt, self.cfg, market, self.path)
        loaded = [LoadedModel(policy_from_checkpoint(m.ckpt, m.cfg, market, m.path), m.cfg,
                              market, report, m.meta, m.path) for m in self.members]  # fmt: skip
        dates = market.dates.astype("datetime64[D]")
        cutoff = int(np.searchsorted(dates, np.datetime64(start, "D")))
        model = build_ensemble(self.ensemble, loaded, cutoff)
        self.ensemble_doc = model.doc
        return model.policy
