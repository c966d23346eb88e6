"""Running tasks: the in-process dispatcher over leased rows, and the reconciler/sweeper."""

from .dispatcher import Dispatcher
from .maintenance import Maintenance

__all__ = ["Dispatcher", "Maintenance"]
