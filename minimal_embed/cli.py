"""The ``minimal-embed`` command (also ``python -m minimal_embed``).

Each sub-command is a pair of functions side by side: ``_add_NAME(subparsers)`` declares its
arguments and ``_run_NAME(args)`` does the work and returns the exit code. ``build_parser``
lists the pairs in pipeline order. Errors a person can fix are raised as ``CommandError`` and
printed as one line on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence



class CommandError(Exception):
    """A mistake in the command's input that the user can fix; printed without a traceback."""


# --- sub-commands, in pipeline order (each helper adds its own pair below) ---------------------


# --- the parser ------------------------------------------------------------------------------

# (add_function, run_function) pairs, in pipeline order: tokenize, train-tokenizer, embed, plot,
# train, neighbors.
_COMMANDS: list = [
]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every sub-command registered in ``_COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="minimal-embed",
        description="How a language model turns text into input vectors, step by step.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for add_command, run_command in _COMMANDS:
        sub = add_command(subparsers)
        sub.set_defaults(run=run_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (CommandError, FileNotFoundError, ValueError) as error:
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


__all__ = ["CommandError", "build_parser", "main"]
