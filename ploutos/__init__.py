"""Ploutos: reinforcement-learning trading research on batched torch environments."""

__version__ = "0.1.0"
