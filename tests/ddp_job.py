"""A DDP training job on two CPU processes, run by the tests as a script (Lightning's
DDP launcher starts the second process by running this file again). Each process writes its
parameter checksum and its envs' next days to rank<r>.json in the output folder when training
ends (a file each: the processes share one stdout, where lines can interleave), and the
summary once more as summary_rank<r>.json. Usage: ddp_job.py OUT_DIR [OVERRIDE ...]."""

import json
import os
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from lightning.pytorch.callbacks import Callback

from ploutos.apps.train import train
from ploutos.config import register_configs
from ploutos.pipeline import build_market

CONF = Path(__file__).resolve().parents[1] / "conf"


class ReportRank(Callback):
    def __init__(self, out: Path) -> None:
        self.out = out

    def on_train_end(self, trainer, pl_module) -> None:
        report = {
            "checksum": sum(float(p.double().sum()) for p in pl_module.policy.parameters()),
            "next_days": pl_module.next_obs.day.tolist(),
        }
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(report))


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
        *sys.argv[2:],  # later overrides win (the signal test asks for a long run)
    ]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    market, report = build_market(cfg)
    summary = train(cfg, market, report.market_meta(cfg), callbacks=[ReportRank(Path(sys.argv[1]))])
    rank = os.environ.get("LOCAL_RANK", "0")
    (Path(sys.argv[1]) / f"summary_rank{rank}.json").write_text(json.dumps(summary, default=str))
