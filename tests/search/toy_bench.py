"""Moved to ``ecgnas.testing``; this re-export keeps ``from toy_bench import ...`` working."""

from ecgnas.testing import OP_NAMES, RidgePredictor, ToyEvaluator, ridge_factory, toy_space

__all__ = ["OP_NAMES", "RidgePredictor", "ToyEvaluator", "ridge_factory", "toy_space"]
