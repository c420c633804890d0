"""The action codes of the discrete action space (see ploutos.env.actions)."""

HOLD, BUY, SELL = 0, 1, 2
N_DISCRETE_ACTIONS = 3
