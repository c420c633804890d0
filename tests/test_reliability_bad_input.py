"""Bad input, table-driven, through the real command line: one line on stderr naming the
ticker and date, the key or the path, exit status 2, and nothing half-written left behind."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def _csv_universe(root: Path, damage: str | None = None) -> Path:
    """Two tickers of closes on 600 business days; `damage` spoils BBB's file."""
    root.mkdir(parents=True, exist_ok=True)
    dates = pd.bdate_range("2015-01-01", periods=600).strftime("%Y-%m-%d")
    rng = np.random.default_rng(0)
    for ticker in ("AAA", "BBB"):
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates))))
        frame = pd.DataFrame({"date": dates, "close": close.round(4)})
        if ticker == "BBB" and damage == "abc":
            frame["close"] = frame["close"].astype(object)
            frame.loc[10, "close"] = "abc"
        frame.to_csv(root / f"{ticker}.csv", index=False)
        if ticker == "BBB" and damage == "empty":
            (root / "BBB.csv").write_text("")
    return root




CSV = ("data=csv", "data.splits.val_start=2016-06-01", "data.splits.test_start=2016-10-01",
       "features=minimal", "experiment=smoke")  # fmt: skip


def _cases(tmp: Path) -> list[tuple[str, list[str], list[str]]]:
    """(script, arguments, pieces the one error line must contain)."""
    abc = _csv_universe(tmp / "abc", "abc")
    empty = _csv_universe(tmp / "empty", "empty")
    garbage = tmp / "garbage.ckpt"
    garbage.write_bytes(b"\x00 not a checkpoint")
    return [
        ("train.py", [*CSV, f"data.path={abc}"],
         ["ticker BBB", str(abc / "BBB.csv"), "non-numeric close", "'abc'", "2015-01-15"]),
        ("train.py", [*CSV, f"data.path={empty}"], ["ticker BBB", str(empty / "BBB.csv")]),
        ("train.py", ["total_timesteps=0"], ["total_timesteps:"]),
        ("train.py", ["obs=v7", "model=mlp", "data=synthetic", "data.n_days=900",
                      "data.splits.val_start=2002-06-01", "data.splits.test_start=2003-01-01"],
         ["model.name:", "obs 'v7'", "model=transformer obs=v7"]),
        ("train.py", ["ckpt_path=/nonexistent/last.ckpt"], ["ckpt_path:", "/nonexistent"]),
        ("train.py", [f"ckpt_path={garbage}"], ["ckpt_path:", str(garbage)]),
        ("train.py", ["data.tickers=[AAPL,ZZZZ]"], ["ZZZZ"]),
        ("backtest.py", [f"ckpt={garbage}"], [str(garbage)]),
        ("backtest.py", [], ["ckpt"]),
    ]  # fmt: skip


def _run_all(commands: list[list[str]]) -> list[subprocess.CompletedProcess]:
    """Run the scripts three at a time (their start-up, mostly imports, is the cost: ~10 s
    each, so one after the other they took 105 s of the suite)."""
    def run(command: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *command], cwd=REPO, capture_output=True,
                              text=True, timeout=300)  # fmt: skip

    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(run, commands))


N_CASES = 9


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> list[tuple[list[str], Path, subprocess.CompletedProcess]]:
    """(error pieces, output folder, finished process) per case."""
    tmp = tmp_path_factory.mktemp("bad_input")
    cases = _cases(tmp)
    assert len(cases) == N_CASES
    commands, outs = [], []
    for i, (script, args, _) in enumerate(cases):
        out = tmp / f"out{i}"
        key = "trainer.output_dir" if script == "train.py" else "output_dir"
        commands.append([script, *args, f"{key}={out}"])
        outs.append(out)
    done = _run_all(commands)
    return [(pieces, out, d) for (_, _, pieces), out, d in zip(cases, outs, done, strict=True)]


@pytest.mark.parametrize("case", range(N_CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(outcomes, case: int) -> None:
    pieces, out, done = outcomes[case]
    assert done.returncode == 2, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr
    error = lines[-1]
    assert error.startswith("error: ")
    for piece in pieces:
        assert piece in error, (piece, error)
    written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert not any(p.suffix in (".ckpt", ".json", ".csv", ".html") for p in written), written
