"""gymnasium.make("Ploutos-v0") as a new user calls it: in a fresh interpreter, from a folder
outside the repository, with nothing registered or composed by earlier tests.

Each subprocess prints one JSON line; the tests compare it with the same env built here, so
a fresh process must give exactly the env the package gives in-process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gymnasium import spaces

from ploutos.apps.gym import gym_config
from ploutos.config import CONF_DIR, compose_train_config
from ploutos.env.gym import PloutosEnv
from ploutos.errors import ConfigError
from ploutos.pipeline import build_market

REPO = Path(__file__).resolve().parents[1]
CASES = {
    "v6-discrete": [],  # the default config: no overrides at all
    "v6-weights": ["env=weights"],
    "v7-discrete": ["obs=v7"],
    "v7-weights": ["obs=v7", "env=weights"],
}
VECTOR_ENVS = 8
# gymnasium's checker passes with advice only: the flat observation has no finite bounds
# (returns and normalized features are unclipped), and the weights head's logits span
# [-10, 10] rather than [-1, 1].
OBS_ADVICE = ("minimum value is -infinity", "maximum value is infinity")
WEIGHTS_ADVICE = ("we recommend using a symmetric and normalized space",)

# gym.make per case (reset, one fixed step, gymnasium's checker), then make_vec over a whole
# episode. Every case is caught on its own so one failure does not hide the others.
MAKE_SCRIPT = """
import hashlib, json, sys, traceback, warnings
import gymnasium as gym
import numpy as np
import ploutos
from gymnasium.utils.env_checker import check_env

def fixed_action(space):
    if isinstance(space, gym.spaces.MultiDiscrete):
        return np.ones(space.shape, dtype=np.int64)  # buy every asset
    return np.zeros(space.shape, dtype=np.float32)  # equal target weights

out = {"ploutos_file": ploutos.__file__}
for name, overrides in json.loads(sys.argv[1]).items():
    try:
        env = gym.make("Ploutos-v0", overrides=overrides) if overrides else gym.make("Ploutos-v0")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env.unwrapped, skip_render_check=True)
        first, info = env.reset(seed=3)
        obs, reward, term, trunc, _ = env.step(fixed_action(env.action_space))
        out[name] = {
            "checker_warnings": [str(w.message) for w in caught],
            "obs_shape": list(first.shape), "dtype": str(first.dtype),
            "first_obs": hashlib.sha256(first.tobytes()).hexdigest(),
            "next_obs": hashlib.sha256(obs.tobytes()).hexdigest(),
            "reward": reward, "done": term or trunc, "day": info["day"],
            "action_space": repr(env.action_space),
        }
    except Exception:
        out[name] = {"error": traceback.format_exc()}

venv = gym.make_vec("Ploutos-v0", num_envs=int(sys.argv[2]))
obs, _ = venv.reset(seed=1)
done_at, returns = [], np.zeros(venv.num_envs)
actions = fixed_action(venv.single_action_space)[None].repeat(venv.num_envs, 0)
for step in range(1, 400):
    obs, rewards, term, trunc, info = venv.step(actions)
    returns += rewards
    if (term | trunc).any():
        done_at = [step, int((term | trunc).sum())]
        break
out["vector"] = {
    "type": type(venv).__name__, "obs_shape": list(obs.shape),
    "single_obs_shape": list(venv.single_observation_space.shape),
    "done_at": done_at, "returns": returns.tolist(),
    "final_obs_finite": bool(np.isfinite(info["final_obs"]).all()),
}
print(json.dumps(out))
"""

# The README's Stable-Baselines3 lines, plus what the test reads back.
SB3_SCRIPT = """
import json
import gymnasium as gym
import ploutos
import torch
from stable_baselines3 import PPO

torch.set_num_threads(1)  # a [64, 64] MLP: threads only add contention on a shared CPU

env = gym.make("Ploutos-v0")
model = PPO("MlpPolicy", env, n_steps=2048, seed=0, device="cpu", verbose=0)
before = torch.nn.utils.parameters_to_vector(model.policy.parameters()).detach().clone()
model.learn(total_timesteps=2048)
after = torch.nn.utils.parameters_to_vector(model.policy.parameters()).detach()
print(json.dumps({
    "timesteps": model.num_timesteps,
    "episode_lengths": [e["l"] for e in model.ep_info_buffer],
    "episode_returns": [e["r"] for e in model.ep_info_buffer],
    "max_param_change": float((after - before).abs().max()),
    "params_finite": bool(torch.isfinite(after).all()),
}))
"""


def run_fresh(
    python: str, script: str, *args: str, cwd: Path, isolated: bool = False
) -> dict[str, Any]:
    """Run `script` with `python -c` in `cwd` and return the JSON of its last stdout line;
    `isolated` drops PYTHONPATH so that only the interpreter's own site-packages count."""
    env = {k: v for k, v in os.environ.items() if not (isolated and k == "PYTHONPATH")}
    done = subprocess.run(
        [python, "-c", script, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"fresh process failed (rc {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(array.tobytes()).hexdigest()


def in_process_reference(overrides: list[str], market_cache: dict) -> dict[str, Any]:
    """The same case built here, from the classes, without gymnasium's registry."""
    cfg = compose_train_config(overrides)
    if cfg.obs.name not in market_cache:
        market_cache[cfg.obs.name] = build_market(cfg)[0]
    env = PloutosEnv(cfg=cfg, market=market_cache[cfg.obs.name])
    first, info = env.reset(seed=3)
    if isinstance(env.action_space, spaces.MultiDiscrete):
        action = np.ones(env.action_space.shape, dtype=np.int64)
    else:
        action = np.zeros(env.action_space.shape, dtype=np.float32)
    obs, reward, _, _, _ = env.step(action)
    return {
        "obs_shape": list(env.observation_space.shape),
        "first_obs": digest(first),
        "next_obs": digest(obs),
        "reward": reward,
        "day": info["day"],
        "n_assets": len(cfg.data.tickers),
    }


def check_cases(fresh: dict[str, Any]) -> None:
    markets: dict = {}
    for name, overrides in CASES.items():
        got = fresh[name]
        assert "error" not in got, got.get("error")
        want = in_process_reference(overrides, markets)
        advice = OBS_ADVICE + (WEIGHTS_ADVICE if "weights" in name else ())
        assert len(got["checker_warnings"]) == len(advice), got["checker_warnings"]
        for remark in advice:
            assert any(remark in w for w in got["checker_warnings"]), remark
        assert got["obs_shape"] == want["obs_shape"] and got["dtype"] == "float32"
        assert (got["first_obs"], got["next_obs"]) == (want["first_obs"], want["next_obs"])
        assert got["reward"] == want["reward"] and np.isfinite(got["reward"])
        assert got["day"] == want["day"] and got["done"] is False
        n = want["n_assets"]
        expected_space = (
            repr(spaces.Box(-10.0, 10.0, (n + 1,), np.float32))
            if "weights" in name
            else repr(spaces.MultiDiscrete([3] * n))
        )
        assert got["action_space"] == expected_space


@pytest.fixture(scope="module")
def fresh_make(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cwd = tmp_path_factory.mktemp("elsewhere")
    return run_fresh(sys.executable, MAKE_SCRIPT, json.dumps(CASES), str(VECTOR_ENVS), cwd=cwd)


def test_gym_make_in_a_fresh_process_matches_the_package(fresh_make: dict[str, Any]) -> None:
    check_cases(fresh_make)
    # The v7 window carries lookback days of features per asset, the v6 one only today's.
    assert fresh_make["v7-discrete"]["obs_shape"][0] > fresh_make["v6-discrete"]["obs_shape"][0]


def test_make_vec_is_the_batched_vector_env(fresh_make: dict[str, Any]) -> None:
    got = fresh_make["vector"]
    episode_days = compose_train_config().env.episode_days
    assert got["type"] == "PloutosVectorEnv"  # one engine, not SyncVectorEnv of 8 copies
    assert got["obs_shape"] == [VECTOR_ENVS, *got["single_obs_shape"]]
    assert got["single_obs_shape"] == fresh_make["v6-discrete"]["obs_shape"]
    # Every episode is episode_days long, so all 8 end together, and no earlier.
    assert got["done_at"] == [episode_days, VECTOR_ENVS]
    assert got["final_obs_finite"] is True
    # Each env trades its own window of days, so the same actions earn different returns.
    assert len(set(got["returns"])) == VECTOR_ENVS and np.isfinite(got["returns"]).all()


def test_stable_baselines3_ppo_learns_from_a_fresh_process(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    got = run_fresh(sys.executable, SB3_SCRIPT, cwd=tmp_path)
    episode_days = compose_train_config().env.episode_days
    assert got["timesteps"] == 2048
    # 2,048 steps hold 8 whole episodes of 252 days (Monitor counts only finished ones).
    assert got["episode_lengths"] == [episode_days] * (2048 // episode_days)
    assert all(np.isfinite(got["episode_returns"]))
    # SB3's PPO made 2048 / 64 x 10 = 320 Adam steps at lr 3e-4; Adam moves a weight by at
    # most about 3.17 lr per step, and a learning update moves some by more than lr / 10.
    assert 3e-5 < got["max_param_change"] <= 3.17 * 3e-4 * 320
    assert got["params_finite"] is True


def test_overrides_compose_and_cannot_be_mixed_with_a_ready_cfg() -> None:
    cfg = gym_config(None, ["obs=v7", "env=weights"])
    assert (cfg.obs.name, cfg.env.action_mode, cfg.model.name) == ("v7", "weights", "transformer")
    with pytest.raises(ConfigError, match="overrides"):
        gym_config(cfg, ["obs=v6"])
    assert gym_config(cfg, None) is cfg


def package_sources(dest: Path) -> Path:
    """The files a wheel is built from (no top-level conf/ link: the package must carry it)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("ploutos", "hydra_plugins"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    return dest


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_venv_makes_the_env(tmp_path: Path) -> None:
    src = package_sources(tmp_path / "src")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    # No build isolation: it would fetch setuptools from an index; the installed one builds.
    subprocess.run(
        [*pip, "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path / "dist")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("ploutos-*.whl")
    venv = tmp_path / "venv"
    # System site-packages supply torch and the rest; ploutos itself comes from the wheel
    # (the venv's site-packages precede the editable install, asserted below).
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall", "-q",
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    got = run_fresh(
        python, MAKE_SCRIPT, json.dumps(CASES), str(VECTOR_ENVS), cwd=elsewhere, isolated=True
    )
    assert Path(got["ploutos_file"]).is_relative_to(venv)
    check_cases(got)
    assert got["vector"]["type"] == "PloutosVectorEnv"
    installed_conf = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    installed_conf = installed_conf / "site-packages" / "ploutos" / "conf"
    shipped = sorted(p.relative_to(installed_conf) for p in installed_conf.rglob("*.yaml"))
    assert shipped == sorted(p.relative_to(CONF_DIR) for p in CONF_DIR.rglob("*.yaml"))
