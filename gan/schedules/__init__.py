"""Training schedules: one iteration of a network family behind one interface
(:class:`Schedule`, ``iteration(with_summary) -> stats``)."""

from gan.schedules.base import (
    RealData,
    Schedule,
    add_gradients,
    sigma_scalars,
    slope_stats,
    weight_diagnostics,
)
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
