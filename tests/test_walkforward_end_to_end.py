"""A tiny walk-forward with real training, run as the Hydra multirun a cluster would spread
(one job per fold, stitched by the callback), then permutation importance on a fold's best
checkpoint through the importance app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    "experiment=wf_cpu",
    "data=synthetic",
    "data.n_assets=3",
    "data.n_days=560",
    "features=minimal",
    "data.walk_forward.train_days=300",
    "data.walk_forward.val_days=60",
    "data.walk_forward.test_days=60",
    "data.walk_forward.step_days=60",
    "total_timesteps=2048",
    "eval_freq=1024",
    "checkpoint_freq=2048",
    "walkforward.n_boot=50",
]


def _run(args: list[str]) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_multirun_folds_stitch_and_importance(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    out = _run(["walkforward.py", "-m", "fold=0,1", *SMALL, f"hydra.sweep.dir={sweep}"])
    assert "2 folds stitched" in out
    assert len(list(sweep.glob("*/fold.json"))) == 2
    metrics = json.loads((sweep / "metrics.json").read_text())
    assert metrics["folds"] == [0, 1]
    assert {"agent", "buy_and_hold", "index"} <= set(metrics["strategies"])
    assert len(pd.read_csv(sweep / "equity.csv")) == 120
    # The stitch step alone gives the same numbers.
    _run(["walkforward.py", f"stitch={sweep}", "walkforward.n_boot=50"])
    again = json.loads((sweep / "metrics.json").read_text())
    assert again["strategies"]["agent"]["sharpe"] == metrics["strategies"]["agent"]["sharpe"]

    fold = json.loads(sorted(sweep.glob("*/fold.json"))[-1].read_text())
    imp = tmp_path / "importance"
    _run(["importance.py", f"ckpt={fold['checkpoint']}", "n_repeats=2", f"output_dir={imp}"])
    doc = json.loads((imp / "importance.json").read_text())
    kinds = {row["kind"] for row in doc["rows"]}
    assert {"feature", "group"} <= kinds
    for row in doc["rows"]:
        assert 0.0 <= row["action_change_mean"] <= 1.0
    assert (imp / "importance.png").stat().st_size > 1000
