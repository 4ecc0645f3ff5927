"""The ``habsburg`` command.

Each subcommand lives in a module exposing ``register(subparsers)``; user errors
(:class:`~habsburg.scenarios.schema.ScenarioError`) print a message and exit 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from habsburg.scenarios.errors import HabsburgError, ScenarioError, UserError  # noqa: F401

#: modules that add subcommands (each defines ``register(subparsers)``)
COMMAND_MODULES = [
    "habsburg.cli.run",
    "habsburg.cli.validate",
    "habsburg.cli.sweep",
    "habsburg.cli.viz",
    "habsburg.cli.report",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="habsburg",
        description="Agent-based simulator of model collapse across an AI ecosystem.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HabsburgError as err:
        print(f"habsburg: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `habsburg scenarios | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("habsburg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
