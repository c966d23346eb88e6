"""Telling clients about task changes: notifications hub, callbacks, long-poll, event streams."""

from .hub import ChangeHub, TaskChange

__all__ = ["ChangeHub", "TaskChange"]
