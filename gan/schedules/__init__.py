"""Training schedules: one iteration of a network family behind one interface
(:class:`Schedule`, ``iteration(with_summary) -> stats``)."""

from gan.bsn.diagnostics import sigma_scalars, slope_stats
from gan.bsn.steps.tensorflow import add_gradients
from gan.schedules.base import RealData, Schedule, weight_diagnostics
from gan.schedules.cnn import CNNSchedule
from gan.schedules.resnet import ResNetSchedule

__all__ = [
    "CNNSchedule",
    "RealData",
    "ResNetSchedule",
    "Schedule",
    "add_gradients",
    "sigma_scalars",
    "slope_stats",
    "weight_diagnostics",
]
