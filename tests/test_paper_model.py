"""What a paper account may trade on: data overrides that change the market are refused, the
checkpoint's bars must still hash to its fingerprint, every session's bars must equal them, and
a ledger keeps the checkpoint it was opened with; each refusal is one line naming the key or
path."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from paper_helpers import open_account, shared_checkpoint

from ploutos.data.bars import Bars
from ploutos.errors import ConfigError, DataError
from ploutos.paper.feed import DataFeed
from ploutos.paper.model import PaperModel

START = "2002-07-01"


def perturbed_copy(path: Path, out: Path, scale: float = 0.5, seed: int = 0) -> Path:
    """The checkpoint with noise added to its policy weights: another model, same market."""
    ckpt = torch.load(path, weights_only=True)
    gen = torch.Generator().manual_seed(seed)
    for key, value in ckpt["state_dict"].items():
        if key.startswith("policy.") and value.is_floating_point():
            noise = torch.randn(value.shape, generator=gen, dtype=value.dtype)
            ckpt["state_dict"][key] = value + scale * noise * (value.std() if value.numel() > 1
                                                               else 1.0)  # fmt: skip
    torch.save(ckpt, out)
    return out


@pytest.mark.parametrize(("key", "value"), [("start", "2001-01-02"), ("seed", 5),
                                            ("signal_strength", 0.3)])  # fmt: skip
def test_a_data_override_that_changes_the_market_is_refused(key, value) -> None:
    with pytest.raises(ConfigError, match=rf"^data\.{key}: .*last\.ckpt was trained with") as err:
        PaperModel.load(shared_checkpoint(), {key: value})
    assert "\n" not in str(err.value)
    # Where the same bars come from may change.
    assert PaperModel.load(shared_checkpoint(), {"end": None}).cfg.data.get("end") is None


class RevisedFeed(DataFeed):
    """The source with one close of the training period revised (as a provider may)."""

    def history(self, through: str, ahead_days: int = 0) -> Bars:
        bars = super().history(through, ahead_days)
        close = bars.close.copy()
        row = int(np.searchsorted(bars.dates, np.datetime64("2001-03-15")))
        close[row, 1] *= 1.001
        return replace(bars, close=close)


def test_session_bars_that_differ_from_the_checkpoints_are_refused(tmp_path: Path) -> None:
    ckpt = shared_checkpoint()
    model = PaperModel.load(ckpt)
    ledger, broker, session = open_account(tmp_path, ckpt, 5, feed=RevisedFeed(model.cfg.data),
                                           model=model)  # fmt: skip
    with pytest.raises(DataError, match=r"last\.ckpt: data fingerprint mismatch: .* differ from "
                                        r"the checkpoint's at 2001-03-15 S01 close") as err:
        session.run(START)
    assert "\n" not in str(err.value)
    # Refused before anything reached the broker or the ledger's books.
    state = ledger.state()
    assert not state.navs and not state.intents and not broker.positions()
    ledger.close()
    broker.close()


def test_a_checkpoint_whose_data_changed_is_refused(tmp_path: Path) -> None:
    ckpt = torch.load(shared_checkpoint(), weights_only=True)
    ckpt["cfg"]["data"]["signal_strength"] = 0.3  # the source now gives other bars
    path = tmp_path / "changed.ckpt"
    torch.save(ckpt, path)
    with pytest.raises(DataError, match=r"changed\.ckpt: data fingerprint mismatch: data source "
                                        r"'synthetic' no longer gives the bars"):
        PaperModel.load(path).trained_bars()


def test_a_ledger_keeps_the_checkpoint_it_was_opened_with(tmp_path: Path) -> None:
    ckpt = shared_checkpoint()
    ledger, broker, session = open_account(tmp_path, ckpt, 5)
    assert session.run(START).status == "done"
    ledger.close()
    broker.close()
    other = perturbed_copy(ckpt, tmp_path / "other.ckpt")
    ledger, broker, session = open_account(tmp_path, other, 5)
    with pytest.raises(ConfigError, match=r"^ckpt: ledger .* trades .*last\.ckpt .* not "
                                          r".*other\.ckpt"):
        session.run("2002-07-02")
    ledger.close()
    broker.close()
