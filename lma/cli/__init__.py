"""The ``lma`` command line: ``lma run | eval | report | replay | list | serve | finetune | train | image | search | webqa``.

This package holds argparse and printing only; every command calls a library function that takes
plain arguments. Each command is a module here with ``HELP``, ``add_arguments(parser)`` and
``main(args) -> int``; heavy libraries are imported inside ``main``, so ``lma list`` stays fast.

Errors a user can fix (unknown names, malformed specs or configs, missing files) print one line
and exit with code 2; ``--debug`` (before or after the command) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from lma.cli import progress
from lma.errors import LmaError

COMMANDS = ("run", "eval", "report", "replay", "list", "serve", "finetune", "train", "image", "search", "webqa")
MODULES = {"list": "listing"}  # a command whose module name differs


def command_module(name: str):  # noqa: ANN201 - a module with HELP, add_arguments and main
    return importlib.import_module(f"lma.cli.{MODULES.get(name, name)}")


def build_parser() -> argparse.ArgumentParser:
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    parser = argparse.ArgumentParser(prog="lma", parents=[debug],
                                     description="Large Multimodal Agents: run, evaluate, report, serve.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = command_module(name)
        module.add_arguments(sub.add_parser(name, help=module.HELP, parents=[debug]))
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    args.debug = getattr(args, "debug", False)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return command_module(args.command).main(args)
    except LmaError as exc:
        if args.debug:
            raise
        print(f"lma: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        progress.report(exc)
        return 130
    except Exception as exc:  # a bug, not bad input: still one line unless --debug
        if args.debug:
            raise
        print(f"lma: unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for details)", file=sys.stderr)
        return 1
