"""The error types of habsburg's user-facing failures (the bottom layer: everything may raise them).

Every error a user can cause by bad input derives from :class:`HabsburgError`; the CLI catches that
one type and prints its message (exit 2) instead of a traceback.
"""

from __future__ import annotations


class HabsburgError(Exception):
    """Base of every error caused by bad input (printed without a traceback, exit status 2)."""

    exit_status = 2


class ScenarioError(HabsburgError, ValueError):
    """A user error in a scenario, a setting path or a value."""


class UserError(HabsburgError):
    """Bad input that is not a scenario error: paths, flags, results directories."""
