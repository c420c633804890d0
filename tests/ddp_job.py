"""A DDP training job on two CPU processes, run by test_sweep_presets as a script (Lightning's
DDP launcher starts the second process by running this file again). Each process prints its
parameter checksum and its envs' next days when training ends."""

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from lightning.pytorch.callbacks import Callback

from ploutos.config import register_configs
from ploutos.pipeline import build_market
from ploutos.training.app import train

CONF = Path(__file__).resolve().parents[1] / "conf"


class ReportRank(Callback):
    def on_train_end(self, trainer, pl_module) -> None:
        checksum = sum(float(p.double().sum()) for p in pl_module.policy.parameters())
        days = ",".join(str(d) for d in pl_module._next_obs.day.tolist())
        print(f"RANK {trainer.global_rank} PARAMS {checksum!r} DAYS {days}", flush=True)


if __name__ == "__main__":
    register_configs()
    overrides = [
        "experiment=smoke",
        "data=synthetic",
        "trainer=ddp",
        "device=cpu",
        "trainer.devices=2",
        "total_timesteps=2048",
        "eval_freq=1024",
        "checkpoint_freq=1024",
        f"trainer.output_dir={sys.argv[1]}",
    ]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    market, report = build_market(cfg)
    train(cfg, market, report.market_meta(cfg), callbacks=[ReportRank()])
