"""The error types of habsburg's user-facing failures (the bottom layer: everything may raise them).

Every error a user can cause derives from :class:`HabsburgError`; the CLI catches that one type
once and prints its message without a traceback (``--debug`` shows it). The exit status says
what kind of failure it was: 2 for bad input, 1 for a check that ran and failed, 130 for an
interrupted command. One subclass per kind of failure, so callers and tests can tell them apart:

=========================  ==================================================================
``ScenarioError``          a scenario, setting path or value is invalid (names file and key)
``InputFileError``         an input file cannot be read as what it should be: missing,
                           binary, not UTF-8, empty, truncated, not TOML
``OutputPathError``        an output path is refused: an existing file, a directory holding
                           files habsburg did not write, uncreatable or unwritable
``ResultsDirError``        a results directory given to a reader is damaged: no manifest,
                           missing or unreadable (damaged) tables
``ResultsVersionError``    a results directory was written by an incompatible habsburg version
``CheckpointError``        a checkpoint is refused: tampered, unauthenticated, or written for
                           another scenario, seed or habsburg version
``LimitError``             a run is projected to exceed the machine (documents, memory)
``CheckFailed``            a check ran and failed (exit status 1)
``Interrupted``            SIGINT/SIGTERM: the message says how to resume (exit status 130)
=========================  ==================================================================
"""

from __future__ import annotations


class HabsburgError(Exception):
    """Base of every error caused by bad input (printed without a traceback, exit status 2)."""

    exit_status = 2


class ScenarioError(HabsburgError, ValueError):
    """A user error in a scenario, a setting path or a value."""


class UserError(HabsburgError):
    """Bad input that is not a scenario error: paths, flags, results directories."""


class InputFileError(ScenarioError):
    """An input file (scenario, sweep/sensitivity/calibration spec) that cannot be read: missing,
    a directory, binary, not UTF-8, empty. A :class:`ScenarioError`, so code that adds context
    to scenario errors (a sweep spec naming its ``scenario`` key) adds it to these too."""


class OutputPathError(UserError):
    """An output path habsburg refuses to write to (it never deletes files it did not write)."""


class ResultsDirError(UserError):
    """A results directory (for ``report``/``compare``) that is missing files or damaged."""


class ResultsVersionError(ResultsDirError):
    """A results directory written by an incompatible version of habsburg."""


class CheckpointError(UserError):
    """A checkpoint that ``--resume`` refuses (tampered, foreign, or for another run)."""


class LimitError(UserError):
    """A run projected to exceed the machine's memory or the document limit (``--force``)."""


class CheckFailed(HabsburgError):
    """A check that ran to completion and failed (e.g. ``habsburg validate``): exit status 1."""

    exit_status = 1


class Interrupted(HabsburgError):
    """SIGINT or SIGTERM stopped a command; the message says how to resume. Exit status 130."""

    exit_status = 130
