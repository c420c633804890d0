"""`python paper.py replay ckpt=[A,B,C] ensemble=vote`: the paper account trades the members'
vote, on the one engine: its NAV equals the ensemble's backtest, and its decisions are the
vote's, not any single member's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from paper_helpers import shared_checkpoint
from test_paper_app import paper_cfg
from test_paper_model import perturbed_copy

from ploutos.apps import paper as app
from ploutos.ensemble import EnsembleSpec
from ploutos.ensemble.rules import vote
from ploutos.errors import ConfigError
from ploutos.paper.books import Books
from ploutos.paper.feed import DataFeed
from ploutos.paper.ledger import Ledger
from ploutos.paper.model import PaperModel

START, END = "2002-07-01", "2002-07-10"


def members(folder: Path) -> list[Path]:
    base = shared_checkpoint()
    return [base, *(perturbed_copy(base, folder / f"m{i}.ckpt", seed=i) for i in (1, 2))]


def test_an_ensemble_account_trades_the_vote(tmp_path: Path, capsys) -> None:
    paths = members(tmp_path)
    folder = tmp_path / "acct"
    ckpt = "[" + ",".join(str(p) for p in paths) + "]"
    results = app.run(paper_cfg("command=replay", f"ckpt={ckpt}", "ensemble=vote",
                                f"ledger={folder}", f"start={START}", f"end={END}",
                                "drift=none"))  # fmt: skip
    assert {r.status for r in results} == {"done"}
    gap = float(capsys.readouterr().out.split("max |NAV - equity| = ")[1].split()[0])
    assert gap < 1e-9  # the ensemble's backtest over the same days
    state = Ledger.read_state(folder / "ledger.sqlite")
    assert state.account["ensemble"] == {"rule": "vote", "members": [str(p) for p in paths]}

    # Each decision is the plurality of the members' own deterministic actions on the
    # account's observation of that day, and differs from member 0's on some day.
    model = PaperModel.load([str(p) for p in paths], ensemble=EnsembleSpec(rule="vote"))
    bars = DataFeed(model.cfg.data).day(END, model.tickers, lookahead=False).bars
    session = model.session_market(bars, START)
    dates = session.market.dates.astype("datetime64[D]")
    start = int(np.searchsorted(dates, np.datetime64(START)))
    books = Books(model.cfg, session.market, session.obs_builder, start,
                  start + len(results) - 1, None)  # fmt: skip
    differs = 0
    for day in sorted(state.decisions):
        obs = books.observe()
        each = [p.act(obs, session.obs_builder, deterministic=True)
                for p in session.policy.members]  # fmt: skip
        expected = vote(torch.stack(each))
        recorded = torch.tensor([state.decisions[day]["actions"]], dtype=expected.dtype)
        torch.testing.assert_close(recorded, expected, rtol=0, atol=0)
        differs += int(not torch.equal(recorded, each[0]))
        books.step(expected)
    assert differs > 0


def test_several_checkpoints_need_an_ensemble_rule(tmp_path: Path) -> None:
    paths = members(tmp_path)[:2]
    cfg = paper_cfg("command=replay", "ckpt=[" + ",".join(map(str, paths)) + "]",
                    f"ledger={tmp_path / 'acct'}", f"start={START}", f"end={END}")  # fmt: skip
    with pytest.raises(ConfigError, match="^ensemble: several checkpoints trade as an ensemble"):
        app.run(cfg)
