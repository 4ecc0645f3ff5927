"""The ``habsburg`` command.

Each subcommand lives in a module exposing ``register(subparsers)``. Errors are caught once,
here: a :class:`~habsburg.scenarios.errors.HabsburgError` prints its one-line message and exits
with its status (2 bad input, 1 a failed check, 130 interrupted); Ctrl-C and SIGTERM end a
command the same way; anything else is a bug and says so. ``--debug`` (anywhere on the command
line) adds the traceback.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from habsburg.experiments.files import sigterm_as_interrupt
from habsburg.experiments.locks import output_locks
from habsburg.scenarios.errors import (  # noqa: F401  (re-exported)
    HabsburgError,
    Interrupted,
    ScenarioError,
    UserError,
)

#: modules that add subcommands (each defines ``register(subparsers)``)
COMMAND_MODULES = [
    "habsburg.cli.run",
    "habsburg.cli.validate",
    "habsburg.cli.sweep",
    "habsburg.cli.viz",
    "habsburg.cli.report",
    "habsburg.cli.calibrate",
    "habsburg.cli.verify",
]

#: exit status of an unexpected error (a bug in habsburg, not bad input)
EXIT_BUG = 3

#: the arguments naming directories a command writes or reads tables in, by argparse ``dest``:
#: Apache Arrow takes only UTF-8 paths
TABLE_DIRECTORIES = {
    "out": "--out",
    "store_dir": "--store-dir",
    "run_dir": "RUN_DIR",
    "posterior": "--posterior",
    "results_dir": "RESULTS_DIR",
}


class Parser(argparse.ArgumentParser):
    """argparse's parser without abbreviated options, for the command and every subcommand
    (subparsers are made of their parent's class). argparse takes any unambiguous prefix of a
    long option by default, so ``habsburg compare --seed 2030``, a flag compare does not have,
    silently became ``--seeds 2030``: 2,030 runs of each scenario instead of an error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


class _Version(argparse.Action):
    """``--version``: habsburg's version, model code and commit, and the versions a seed's
    numbers depend on (:func:`~habsburg.experiments.versions.describe`), computed only when
    asked (the model code takes ~0.2 s)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        kwargs.update(nargs=0, default=argparse.SUPPRESS)
        super().__init__(option_strings, argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> NoReturn:
        from habsburg.experiments.versions import describe, package_versions

        print(describe(package_versions()))
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="habsburg",
        description="Agent-based simulator of model collapse across an AI ecosystem.",
        epilog="Exit status: 0 success, 1 a check failed, 2 bad input, 3 internal error, "
        "130 interrupted.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (any position)"
    )
    parser.add_argument(
        "--version",
        action=_Version,
        help="print habsburg's version, model code and git commit and the versions of the "
        "packages a seed's numbers depend on, and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _unknown_option_before_command(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Name an unknown option given before (or without) a command, with the option it resembles:
    argparse reports ``habsburg --versio`` as a missing COMMAND, hiding the mistyped flag."""
    commands = _commands(parser)
    known = parser._option_string_actions  # (argparse keeps no public index)
    for arg in argv:
        if arg in commands:
            return  # the command's own parser names its unknown options
        if arg.startswith("-") and arg != "--" and arg.split("=", 1)[0] not in known:
            near = difflib.get_close_matches(arg, [o for o in known if o.startswith("--")], 1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            parser.error(f"unrecognized arguments: {arg}{hint}")


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def check_table_directories(args: argparse.Namespace) -> None:
    """Refuse, before any work, a directory argument whose name is not UTF-8 (bytes the file
    system kept, which Python holds as surrogates): Arrow could not write or read the tables
    there, so ``habsburg run --out $'out\\xff'`` simulated, then failed with an internal error."""
    for dest, name in TABLE_DIRECTORIES.items():
        value = getattr(args, dest, None)
        if not isinstance(value, str):
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(
                f"{name} {value!r} is not UTF-8 text: habsburg reads and writes its tables with "
                "Apache Arrow, which takes only UTF-8 paths; rename it or choose another"
            ) from None


def _command(args: argparse.Namespace) -> object:
    check_table_directories(args)
    return args.func(args)


def _fail(message: str, status: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"habsburg: {message}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    _unknown_option_before_command(parser, argv)
    args = parser.parse_args(argv)
    args.argv = argv  # (for the command line that finishes an interrupted command)
    return guarded(lambda: _command(args), debug)


def entry() -> None:
    """The ``habsburg`` command (and ``python -m habsburg.cli``): :func:`main`, then exit with its
    status. Once a command has been interrupted, a further Ctrl-C or SIGTERM while the process
    exits is ignored, so the status stays 130 instead of becoming a kill by that signal."""
    _exit(main())


def run_script(main: Callable[[], object]) -> None:
    """Run an example script's ``main()`` the way the CLI runs a command: bad input, an
    interrupt or a full disk end in one line and an exit status, not a traceback
    (``--debug`` on the script's command line shows it)."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    _exit(guarded(main, debug))


def _exit(status: int) -> NoReturn:
    """Exit with ``status``. After an interrupt (130) a further Ctrl-C or SIGTERM is ignored,
    and CPython's record of an unhandled Ctrl-C is cleared so the status really is 130.

    CPython (bpo-1054041, bpo-41602) notes a ``KeyboardInterrupt`` that leaves any ``exec`` or
    ``eval`` of source text -- a dataclass or namedtuple being built when Ctrl-C lands -- even
    when habsburg catches it further up; under ``python -m`` the interpreter then kills itself
    with SIGINT at exit (status -2 to a parent) instead of exiting 130. Evaluating source text
    resets that record, and habsburg has handled the interrupt."""
    if status == 130:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        exec("None")  # resets CPython's unhandled-KeyboardInterrupt flag (see above)
    sys.exit(status)


def guarded(command: Callable[[], object], debug: bool = False) -> int:
    """Run ``command`` and turn every failure into a message on stderr and an exit status:
    0 success, 1 a check failed, 2 bad input, 3 internal error, 130 interrupted. The output
    directories the command writes stay locked until it ends
    (:func:`~habsburg.experiments.locks.output_locks`): another command writing into one is
    refused before any work."""
    try:
        with sigterm_as_interrupt(), output_locks():
            status = command()
        return status if isinstance(status, int) else 0
    except HabsburgError as err:
        message = str(err) if isinstance(err, Interrupted) else f"error: {err}"
        return _fail(message, err.exit_status, debug)
    except BrokenPipeError:  # e.g. `habsburg scenarios | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:  # a command without its own resume hint
        return _fail(
            "interrupted; no file was left half-written: run the same command again to redo "
            "the work",
            130,
            debug,
        )
    except MemoryError:
        return _fail(
            "error: out of memory; lower the scenario's sizes (authors, AI demand, facts) or "
            "--steps",
            2,
            debug,
        )
    except OSError as err:
        if err.errno is None and not err.filename:  # not the system's refusal: a library's
            return _internal_error(err, debug)  # (TimeoutError() printed "error: " and exit 2)
        where = f": {err.filename}" if err.filename else ""  # the disk or file system refused
        return _fail(f"error: {err.strerror or err}{where}", 2, debug)
    except Exception as err:
        return _internal_error(err, debug)


def _internal_error(err: BaseException, debug: bool) -> int:
    detail = f": {err}" if str(err) else ""
    return _fail(
        f"internal error ({type(err).__name__}{detail}); this is a bug: rerun with --debug "
        "for the traceback and report it",
        EXIT_BUG,
        debug,
    )


if __name__ == "__main__":
    sys.exit(main())
