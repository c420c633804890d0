"""Multiruns in W&B: a job's overrides become config columns under `sweep`, its group is the
sweep folder, and the study report's verdict is a `study` run in that same group."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import wandb
from conftest import compose_config
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from test_dashboards import _offline_env

from ploutos.dashboards.offline_runs import read_run
from ploutos.dashboards.study_report import log_study_verdict
from ploutos.studies.report import verdict
from ploutos.training.loggers import make_loggers, override_columns, sweep_columns

SWEEP_DIR = "multirun/2026-12-01/10-00-00"
JOB_OVERRIDES = ["ent_coef=0.01", "algo.learning_rate=3e-4", "seed=2", "logger=wandb",
                 "model.hidden_sizes=[16,16]", "+trainer.note=x", "~callbacks"]  # fmt: skip


@pytest.fixture
def in_a_multirun_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Hydra's config of job 0 of a multirun, as a launcher sets it before the task runs."""
    monkeypatch.chdir(tmp_path)
    _offline_env(monkeypatch, tmp_path)
    cfg = compose_config("train", [], return_hydra_config=True)
    cfg.hydra.mode = "MULTIRUN"
    cfg.hydra.sweep.dir = SWEEP_DIR
    cfg.hydra.overrides.task = JOB_OVERRIDES
    HydraConfig.instance().set_config(cfg)
    yield cfg
    HydraConfig.instance().cfg = None


def _run_file(folder: Path):
    (path,) = folder.glob("wandb/offline-run-*/run-*.wandb")
    return read_run(path)


def test_overrides_are_parsed_by_hydra() -> None:
    assert override_columns(JOB_OVERRIDES) == {
        "ent_coef": 0.01,
        "algo.learning_rate": 3e-4,
        "seed": 2,
        "logger": "wandb",
        "model.hidden_sizes": [16, 16],
        "trainer.note": "x",
    }
    assert sweep_columns() == {}  # not in a multirun


def test_a_multirun_job_has_its_sweep_keys_as_config_columns(
    in_a_multirun_job, tmp_path: Path
) -> None:
    logger_cfg = OmegaConf.create({"wandb": {"project": "ploutos", "mode": None}})
    (logger,) = make_loggers(logger_cfg, tmp_path / "job0", {"seed": 2, "ent_coef": 0.01})
    assert logger.experiment.id  # the run starts on first use
    wandb.finish()
    wandb.teardown()

    run = _run_file(tmp_path / "job0")
    assert run.group == SWEEP_DIR and run.job_type == "train"
    assert run.config["sweep"] == override_columns(JOB_OVERRIDES)
    assert run.config["ent_coef"] == 0.01


def test_the_study_verdict_is_a_run_in_the_sweeps_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _offline_env(monkeypatch, tmp_path)
    configs = pd.DataFrame(
        {
            "config": ["ent_coef=0.01", "ent_coef=0.05", "ent_coef=0.1"],
            "val_best_sharpe_mean": [0.4, 1.3, 0.7],
            "n_pruned": [0, 0, 0],
            "n_jobs": [2, 2, 2],
            "val_days_mean": [250.0, 250.0, 250.0],
        }
    )
    found = verdict(configs)
    folder = log_study_verdict(Path(SWEEP_DIR), found, configs, tmp_path / "report")
    wandb.teardown()

    run = read_run(next(folder.glob("run-*.wandb")))
    assert run.group == SWEEP_DIR and run.job_type == "study"
    summary = run.summary
    assert summary["verdict/best_config"] == "ent_coef=0.05"
    assert summary["verdict/best_val_sharpe_annualized"] == pytest.approx(1.3)
    assert summary["verdict/significant"] is found["significant"]
    assert summary["verdict/dsr_dsr"] == pytest.approx(found["dsr_dsr"])
    assert summary["verdict/text"] == found["text"]
    assert summary["study/configs"]["_type"] == "table-file"
    assert summary["study/configs"]["nrows"] == 3
