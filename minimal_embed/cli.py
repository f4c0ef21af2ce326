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


def _add_tokenize(subparsers) -> argparse.ArgumentParser:
    sub = subparsers.add_parser(
        "tokenize", help="show how a text is split into pieces, tokens and ids"
    )
    sub.add_argument("text", help="the text to tokenize, e.g. 'I love LLMs'")
    sub.add_argument(
        "--tokenizer", metavar="PATH", help="a saved tokenizer file (default: the bundled one)"
    )
    sub.add_argument(
        "--allow-special", action="store_true", help="encode special-token text as its id"
    )
    return sub


def _run_tokenize(args) -> int:
    from minimal_embed.tokenizer import Tokenizer, load_tokenizer

    tok = Tokenizer.load(args.tokenizer) if args.tokenizer else load_tokenizer()
    allowed = "all" if args.allow_special else ()
    try:
        ids = tok.encode(args.text, allowed_special=allowed)
    except ValueError as error:
        raise CommandError(f"{error} (here: pass --allow-special)") from None
    pieces = tok.split(args.text, allowed_special=allowed)
    print("pieces:", " ".join(repr(piece) for piece in pieces))
    # a token that is not whole UTF-8 characters is shown as its bytes, b'\xf0\x9f'
    print("tokens:", " ".join(_readable_token(tok.token_bytes(i)) for i in ids))
    print("ids:   ", " ".join(str(i) for i in ids))
    print("count: ", len(ids))
    return 0


def _readable_token(token: bytes) -> str:
    try:
        return repr(token.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(token)


def _add_train_tokenizer(subparsers) -> argparse.ArgumentParser:
    sub = subparsers.add_parser(
        "train-tokenizer",
        help="train a byte-level BPE tokenizer (default: reproduce the bundled one)",
    )
    sub.add_argument(
        "files", nargs="*", metavar="FILE", help="UTF-8 text files (default: the bundled corpus)"
    )
    sub.add_argument("--vocab-size", type=int, default=2048, help="ids in total (default 2048)")
    sub.add_argument(
        "--special", action="append", metavar="TEXT",
        help="a special token (repeatable; default: <|endoftext|>)",
    )
    sub.add_argument(
        "-o", "--output", default="tokenizer.txt", help="where to save (default: tokenizer.txt)"
    )
    return sub


def _run_train_tokenizer(args) -> int:
    import time

    from minimal_embed import data
    from minimal_embed.tokenizer import Tokenizer

    paths = args.files or data.corpus_files()
    specials = args.special if args.special is not None else ["<|endoftext|>"]
    started = time.perf_counter()
    handles = [open(path, encoding="utf-8") for path in paths]  # noqa: SIM115
    try:
        # each file streams line by line, so memory grows with the distinct pieces only
        lines = (line for handle in handles for line in handle)
        tok = Tokenizer.train(lines, args.vocab_size, special_tokens=specials, progress=True)
    finally:
        for handle in handles:
            handle.close()
    tok.save(args.output)
    elapsed = time.perf_counter() - started
    print(f"trained {tok.vocab_size} ids on {len(paths)} file(s) in {elapsed:.2f} s; "
          f"saved to {args.output}")
    return 0


# --- the parser ------------------------------------------------------------------------------

# (add_function, run_function) pairs, in pipeline order: tokenize, train-tokenizer, embed, plot,
# train, neighbors.
_COMMANDS: list = [
    (_add_tokenize, _run_tokenize),
    (_add_train_tokenizer, _run_train_tokenizer),
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
