"""The app as `python paper.py` runs it (composed conf/paper.yaml): replay, status, a rerun
that is a no-op, clear_kill, and the loop on a fake clock."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from hydra import compose, initialize_config_dir
from paper_helpers import checkpoint_on_2021_dates, shared_checkpoint

from ploutos.apps import paper as app
from ploutos.paper.ledger import Ledger

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def paper_cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="paper", overrides=list(overrides))


def test_replay_status_and_rerun(tmp_path: Path, capsys) -> None:
    ckpt, folder = shared_checkpoint(), tmp_path / "acct"
    cfg = paper_cfg("command=replay", f"ckpt={ckpt}", f"ledger={folder}", "start=2002-07-01",
                    "end=2002-07-12", "drift=none")  # fmt: skip
    results = app.run(cfg)
    assert [r.status for r in results] == ["done"] * 10
    out = capsys.readouterr().out
    gap = float(out.split("max |NAV - equity| = ")[1].split()[0])
    assert gap < 1e-9
    assert (folder / "reports" / "2002-07-12" / "report.html").is_file()
    assert (folder / "reports" / "2002-07-12" / "equity.png").stat().st_size > 1000

    text = app.run(paper_cfg("command=status", f"ledger={folder}"))
    assert "last finished day 2002-07-12" in text
    assert "gap +0.00" in text or "gap -0.00" in text
    again = app.run(paper_cfg(f"ckpt={ckpt}", f"ledger={folder}", "trade_date=2002-07-12",
                              "drift=none"))  # fmt: skip
    assert again.status == "already done"

    with Ledger.open(folder / "ledger.sqlite") as ledger:
        ledger.set_kill("2002-07-12", "drill")
    assert "KILL SWITCH" in app.run(paper_cfg("command=status", f"ledger={folder}"))
    assert app.run(paper_cfg("command=clear_kill", f"ledger={folder}", "reason=drill over"))
    assert Ledger.read_state(folder / "ledger.sqlite").kill is None


def test_loop_runs_each_close(tmp_path: Path) -> None:
    # Trained on synthetic bars dated in 2021, so the NYSE calendar's sessions have data.
    cfg = paper_cfg(f"ckpt={checkpoint_on_2021_dates()}", f"ledger={tmp_path / 'live'}",
                    "loop=true", "max_sessions=2", "report=false", "drift=none")  # fmt: skip
    clock = [pd.Timestamp("2021-11-24 17:00", tz="America/New_York").tz_convert("UTC")]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += pd.Timedelta(seconds=seconds)

    results = app.loop(cfg, now=lambda: clock[0], sleep=sleep)
    assert [(r.trade_date, r.status) for r in results] == [("2021-11-24", "done"),
                                                          ("2021-11-26", "done")]  # fmt: skip
    # 17:00 Wednesday to 13:30 Friday, the half day's close + 30 minutes.
    assert slept == [(24 + 20.5) * 3600]
