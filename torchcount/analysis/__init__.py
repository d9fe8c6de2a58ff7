"""Analyses over profiles: receptive field, cost vs input size, variant comparison, plots.

``plots`` needs matplotlib (the ``plot`` extra) and is imported only when used.
"""
from .compare import Comparison, compare
from .receptive_field import ReceptiveFieldReport, receptive_field
from .scaling import ScalingResult, scaling

__all__ = ["receptive_field", "ReceptiveFieldReport", "scaling", "ScalingResult", "compare", "Comparison"]
