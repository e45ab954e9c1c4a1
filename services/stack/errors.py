"""The one error type of the local stack: its message is a line telling the user what to do."""

from __future__ import annotations


class StackError(Exception):
    """A part of the local stack cannot be started, checked or stopped."""
