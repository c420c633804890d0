"""The batched trading environment and its gymnasium adapters."""

from ploutos.env.engine import TradingEnv
from ploutos.env.factory import make_env
from ploutos.env.params import EnvParams
from ploutos.env.types import BUY, HOLD, SELL
from ploutos.obs.compact import CompactObs

__all__ = ["BUY", "HOLD", "SELL", "CompactObs", "EnvParams", "TradingEnv", "make_env"]
