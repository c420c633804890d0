"""Every launcher, sweeper and trainer preset composes, and so does every study at both
scales (the arms override their groups, the swept keys exist)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import compose_config
from omegaconf import OmegaConf

from ploutos.config import register_configs

REPO = Path(__file__).resolve().parent.parent
ARMS = REPO / "experiments" / "conf"
STUDIES = sorted((REPO / "experiments" / "studies").glob("*.yaml"))

register_configs()


def _compose(overrides: list[str]):
    return compose_config("train", overrides, return_hydra_config=True)


def test_slurm_preset_composes_from_the_command_line():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    for preset in ("submitit_slurm", "slurm"):
        out = subprocess.run(
            [sys.executable, "train.py", f"hydra/launcher={preset}", "--cfg", "hydra"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        launcher = yaml.safe_load(out.stdout)["hydra"]["launcher"]
        assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert launcher["timeout_min"] == 720 and launcher["cpus_per_task"] == 8
    assert launcher["submitit_folder"] == "${hydra.sweep.dir}/.submitit/%j"


def test_local_parallel_preset():
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    launcher = _compose(["hydra/launcher=local_parallel"]).hydra.launcher
    assert launcher._target_.endswith("JoblibLauncher")
    assert launcher.n_jobs == 4


def test_basic_multirun_layout_by_default():
    cfg = _compose([])
    assert cfg.hydra.launcher._target_.endswith("BasicLauncher")
    # One folder (and so one summary.json) per job.
    assert OmegaConf.to_container(cfg.hydra.sweep)["subdir"] == "${hydra.job.num}"


def test_optuna_search_preset_searches_existing_keys():
    cfg = _compose(["hydra/sweeper=ppo_search"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.ploutos_sweeper.ploutos_sweeper.PloutosOptunaSweeper"
    assert sweeper.direction == "maximize" and sweeper.sampler.name == "tpe"
    assert sweeper.storage.startswith("sqlite:///") and sweeper.pruner.name == "none"
    assert cfg.trainer.monitor == "eval/sharpe" and cfg.trainer.mode == "max"
    params = OmegaConf.to_container(sweeper.params)
    assert set(params) == {
        "algo.learning_rate",
        "ent_coef",
        "algo.n_steps",
        "algo.clip_coef",
        "model.hidden_sizes",
    }
    for key in params:
        assert OmegaConf.select(cfg, key) is not None, key
    # Each category of the network size is an override Hydra turns back into a list.
    sized = _compose(["model.hidden_sizes=[256,256]"])
    assert list(sized.model.hidden_sizes) == [256, 256]
    # The node the sweeper fills for each trial is a member of the callbacks group.
    assert OmegaConf.select(cfg, "callbacks") is not None
    pareto = _compose(["hydra/sweeper=ppo_pareto"]).hydra.sweeper
    assert list(pareto.direction) == ["maximize", "maximize"]
    assert list(pareto.metrics) == ["eval/sharpe", "eval/max_drawdown"]
    assert OmegaConf.to_container(pareto.params) == params


def test_ddp_trainer_preset():
    trainer = _compose(["trainer=ddp", "device=cuda"]).trainer
    assert (trainer.strategy, trainer.devices, trainer.num_nodes) == ("ddp", 2, 1)
    assert trainer.monitor == "eval/sharpe" and "accelerator" not in trainer


def test_ddp_on_two_cpu_processes(tmp_path: Path):
    """trainer=ddp really runs (gloo on CPU): two processes end with the same parameters
    (gradients all-reduced) from different envs; an iteration is 2 x n_envs x n_steps env
    steps and total_timesteps counts both processes."""
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "tests/ddp_job.py", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The second process may outlive the first by a moment.
    deadline = time.monotonic() + 60
    while not (out / "rank1.json").is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    rank0, rank1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0["checksum"] == rank1["checksum"]
    assert rank0["next_days"] != rank1["next_days"]
    summary = json.loads((out / "summary.json").read_text())
    batch = 16 * 32  # smoke preset: n_envs x n_steps per process
    assert summary["status"] == "completed"
    assert summary["env_steps"] == 2048 and summary["iterations"] == 2048 // (2 * batch)
    assert summary["n_evals"] == 2
    assert (out / "checkpoints" / "last.ckpt").is_file()


def _study_runs(study: dict, scale: str) -> list[list[str]]:
    """Two corners of the study's grid: every swept key at its first and at its last value."""
    spec = study["scales"][scale]
    values = {key: str(v).split(",") for key, v in spec["sweep"].items()}
    return [[*spec["fixed"], *(f"{k}={v[i]}" for k, v in values.items())] for i in (0, -1)]


STUDY_SCALES = [
    (path, scale)
    for path in STUDIES
    for scale in yaml.safe_load(path.read_text())["scales"]
]


def test_every_study_has_a_smoke_and_a_full_scale():
    for path in STUDIES:
        assert {"smoke", "full"} <= set(yaml.safe_load(path.read_text())["scales"]), path.stem


@pytest.mark.parametrize(
    ("path", "scale"), STUDY_SCALES, ids=[f"{p.stem}-{s}" for p, s in STUDY_SCALES]
)
def test_study_composes(path: Path, scale: str):
    study = yaml.safe_load(path.read_text())
    assert study["description"]
    for overrides in _study_runs(study, scale):
        cfg = _compose([f"hydra.searchpath=[file://{ARMS}]", *overrides])
        seeds = study["scales"][scale]["sweep"]["seed"]
        assert len(str(seeds).split(",")) >= 2, "several seeds each"
        if scale == "smoke":
            # A smoke job trains in about a minute on 2 CPU cores.
            assert cfg.data.source in ("synthetic", "sample") and cfg.total_timesteps <= 65_536
            # One market for every job: seeds vary the training, not the data, unless the
            # study says each seed is also a market of its own.
            if cfg.data.source == "synthetic" and not study.get("market_per_seed", False):
                assert cfg.data.seed == 0


def test_15m_vs_50m_arms():
    study = yaml.safe_load((REPO / "experiments" / "studies" / "v6_15m_vs_50m.yaml").read_text())
    full = [_compose([f"hydra.searchpath=[file://{ARMS}]", *o]) for o in _study_runs(study, "full")]
    assert [c.total_timesteps for c in full] == [15_000_000, 50_000_000]
    smoke = [
        _compose([f"hydra.searchpath=[file://{ARMS}]", *o]) for o in _study_runs(study, "smoke")
    ]
    steps = [c.total_timesteps for c in smoke]
    assert steps[1] / steps[0] == pytest.approx(50 / 15, rel=0.01)
    assert [c.ent_coef for c in smoke] == [c.ent_coef for c in full] == [0.10, 0.08]
    assert [c.early_stopping.enabled for c in smoke] == [False, True]


def test_obs_model_arms_pair_observation_and_network():
    pairs = {}
    for arm in ("v6_mlp", "v7_transformer", "v7_transformer_small"):
        cfg = _compose([f"hydra.searchpath=[file://{ARMS}]", f"+arm={arm}"])
        pairs[arm] = (cfg.obs.name, cfg.model.name)
    assert pairs == {
        "v6_mlp": ("v6", "mlp"),
        "v7_transformer": ("v7", "transformer"),
        "v7_transformer_small": ("v7", "transformer"),
    }


def test_study_runner_command(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(REPO / "experiments"))
    import study

    command = study.train_command("ablation_reward", "smoke", ["device=cpu"], Path("/x"))
    assert command[1:5] == [
        str(REPO / "train.py"),
        "-m",
        f"--config-dir={ARMS}",
        "hydra.sweep.dir=/x",
    ]
    assert "reward=pnl,v6_timing,diff_sharpe" in command and command[-1] == "device=cpu"
    # One arm and one seed of a study, alone: the same fixed overrides, a narrowed sweep.
    one = study.train_command("ablations", "full", [], Path("/x"), ["+arm=norm_off", "seed=2"])
    full = study.train_command("ablations", "full", [], Path("/x"))
    assert "+arm=norm_off" in one and "seed=2" in one and "seed=0,1,2" in full
    assert [a for a in one if "arm=" not in a and "seed=" not in a] == [
        a for a in full if "arm=" not in a and "seed=" not in a
    ]
    with pytest.raises(SystemExit, match="seed takes 0,1,2"):
        study.train_command("ablations", "full", [], Path("/x"), ["seed=7"])
    with pytest.raises(SystemExit, match="sweeps"):
        study.train_command("ablations", "full", [], Path("/x"), ["ent_coef=0.1"])
    with pytest.raises(SystemExit, match="--report-only needs --resume"):
        study.main(["ablations", "--report-only"])
    assert study.main(["--list"]) == 0
    assert "v6_15m_vs_50m" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown study"):
        study.main(["nope", "scale=smoke", "--dry-run"])
    with pytest.raises(SystemExit, match="has no scale 'huge'"):
        study.main(["ablation_reward", "scale=huge", "--dry-run"])
    sys.modules.pop("study", None)
