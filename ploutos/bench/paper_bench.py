"""Paper session time: `python -m ploutos.bench paper [--assets 15] [--sessions 20]`.

A tiny PPO checkpoint (one training iteration: the policy's quality does not change the
cost) on the synthetic market with `--assets` tickers and the default v2 features, then two
replay accounts on the simulated broker over the first `--sessions` days of its test split,
one with drift detection off and one with drift=default. Their sessions interleave day by
day, so a slow spell of the shared host hits both alike. A session is everything a daily run
does: read and check the bars, rebuild the market with the stored normalizer, sync and
reconcile with the broker, step the engine, decide, size and submit the orders, record every
event in the SQLite ledger (synchronous=FULL: an fsync per event), and the drift step. Prints
the CPU and wall seconds of the first session (it opens the account and, with drift,
calibrates the detectors on the training period) and the median of the others.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from ploutos.algos.ppo import PPO
from ploutos.config import compose_train_config
from ploutos.drift.config import drift_settings
from ploutos.paper.brokers.sim import SimBroker
from ploutos.paper.drift import PaperDrift
from ploutos.paper.feed import DataFeed
from ploutos.paper.ledger import Ledger
from ploutos.paper.model import PaperModel
from ploutos.paper.session import AccountSpec, Session
from ploutos.pipeline import build_market
from ploutos.training.checkpoint_io import atomic_torch_save
from ploutos.training.loggers import resolved_container

ARMS = ("drift off", "drift=default")


def tiny_checkpoint(out: Path, n_assets: int) -> Path:
    """One PPO iteration on the synthetic market, saved as the training app saves it."""
    cfg = compose_train_config(["experiment=smoke", "data=synthetic",
                                f"data.n_assets={n_assets}", f"trainer.output_dir={out}"])
    cfg = OmegaConf.create(resolved_container(cfg))
    market, report = build_market(cfg)
    module = PPO(cfg, market, report.market_meta(cfg))
    module.run_iteration(module.configure_optimizers())
    ckpt = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(ckpt)
    path = out / "checkpoints" / "last.ckpt"
    atomic_torch_save(ckpt, path)
    return path


def open_session(folder: Path, ckpt: Path, horizon: int, drift: bool) -> tuple[Session, list]:
    model = PaperModel.load(ckpt)
    feed = DataFeed(model.cfg.data)
    ledger = Ledger.open(folder / "ledger.sqlite")
    broker = SimBroker(folder / "sim_broker.sqlite", model.params, DataFeed(model.cfg.data))
    settings = drift_settings(OmegaConf.load(Path(__file__).parents[1] / "conf" / "drift"
                                             / "default.yaml")) if drift else None  # fmt: skip
    session = Session(ledger, broker, feed, model,
                      AccountSpec(folder.name, model.params.initial_cash, horizon),
                      mode="replay", drift=None if settings is None else PaperDrift(settings))
    return session, [ledger, broker]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ploutos.bench paper", description=__doc__)
    parser.add_argument("--assets", type=int, default=15)
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="paper-bench-"))
    ckpt = tiny_checkpoint(root / "run", args.assets)
    model = PaperModel.load(ckpt)
    market, _ = model.market(DataFeed(model.cfg.data).history("2100-01-01"))
    test = market.split("test")
    dates = [str(d) for d in market.dates[test.start : test.start + args.sessions]
             .astype("datetime64[D]")]  # fmt: skip
    accounts = {arm: open_session(root / f"acct{i}", ckpt, len(dates) - 1, arm != ARMS[0])
                for i, arm in enumerate(ARMS)}  # fmt: skip
    cpu: dict[str, list[float]] = {arm: [] for arm in ARMS}
    wall: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for date in dates:
        for arm, (session, _) in accounts.items():
            started, clock = time.process_time(), time.perf_counter()
            result = session.run(date)
            cpu[arm].append(time.process_time() - started)
            wall[arm].append(time.perf_counter() - clock)
            if result.status != "done":
                raise SystemExit(f"{arm}: session {date} ended {result.status}")
    for _, handles in accounts.values():
        for handle in handles:
            handle.close()
    print(f"paper sessions: {args.assets} assets x {len(model.meta['feature_names'])} "
          f"features, {len(dates)} replayed days from {dates[0]}, sim broker, 1 thread")
    for arm in ARMS:
        print(f"  {arm:<14} first session {cpu[arm][0]:6.2f} CPU s ({wall[arm][0]:6.2f} wall), "
              f"then median {statistics.median(cpu[arm][1:]):5.3f} CPU s "
              f"({statistics.median(wall[arm][1:]):5.3f} wall; max "
              f"{np.max(cpu[arm][1:]):5.3f} CPU s)")  # fmt: skip


if __name__ == "__main__":
    main()
