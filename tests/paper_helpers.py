"""Shared by the paper-trading tests: a tiny trained checkpoint on a synthetic market and a
paper account over it (sim broker, in-process sessions)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ploutos.algos.ppo import PPO
from ploutos.config import register_configs
from ploutos.paper.brokers.sim import SimBroker
from ploutos.paper.feed import DataFeed
from ploutos.paper.ledger import Ledger
from ploutos.paper.model import PaperModel
from ploutos.paper.session import AccountSpec, Session
from ploutos.pipeline import build_market
from ploutos.training.checkpoint_io import atomic_torch_save
from ploutos.training.loggers import resolved_container

CONF = str(Path(__file__).resolve().parents[1] / "conf")
# 3 tickers, 800 business days (2000-01-03 .. 2003-01-24); test split from 2002-07-01.
TINY = (
    "experiment=smoke",
    "data=synthetic",
    "data.n_assets=3",
    "data.n_days=800",
    "data.splits.val_start=2002-01-01",
    "data.splits.test_start=2002-07-01",
    "features=minimal",
    "model.hidden_sizes=[16,16]",
)


def tiny_checkpoint(out: Path, iterations: int = 1) -> Path:
    """A PPO checkpoint assembled as the training app assembles it."""
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*TINY, f"trainer.output_dir={out}"])
    cfg = OmegaConf.create(resolved_container(cfg))
    market, report = build_market(cfg)
    module = PPO(cfg, market, report.market_meta(cfg))
    optimizer = module.configure_optimizers()
    for _ in range(iterations):
        module.run_iteration(optimizer)
    ckpt = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(ckpt)
    path = out / "checkpoints" / "last.ckpt"
    atomic_torch_save(ckpt, path)
    return path


@functools.cache
def shared_checkpoint() -> Path:
    """One tiny checkpoint per test process (training it takes a few seconds)."""
    return tiny_checkpoint(Path(tempfile.mkdtemp(prefix="paper-ckpt-")))


def backtest_log(ckpt: Path, start: str, end: str):
    """The backtest's engine log of the checkpoint's policy on [start, end]."""
    from ploutos.evaluation.backtest import AGENT, run_backtest
    from ploutos.evaluation.checkpoint import load_checkpoint

    result = run_backtest(load_checkpoint(ckpt), start=start, end=end, baselines=(), n_boot=10)
    return result.runs[AGENT][0].log


def open_account(
    folder: Path,
    ckpt: Path,
    horizon: int,
    feed: DataFeed | None = None,
    broker=None,
    data_overrides=None,
    on_step=None,
    name: str = "acct",
):
    """(ledger, broker, session) of a replay account in `folder`."""
    model = PaperModel.load(ckpt, data_overrides)
    feed = feed or DataFeed(model.cfg.data)
    ledger = Ledger.open(folder / "ledger.sqlite")
    broker = broker or SimBroker(
        folder / "sim_broker.sqlite", model.params, DataFeed(model.cfg.data)
    )
    spec = AccountSpec(name, model.params.initial_cash, horizon)
    kwargs = {} if on_step is None else {"on_step": on_step}
    return ledger, broker, Session(ledger, broker, feed, model, spec, mode="replay", **kwargs)
