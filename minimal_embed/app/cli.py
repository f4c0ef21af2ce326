"""The ``minimal-embed`` command (also ``python -m minimal_embed``).

Each sub-command is a pair of functions side by side: ``_add_NAME(subparsers)`` declares its
arguments and ``_run_NAME(args)`` does the work and returns the exit code. ``build_parser``
lists the pairs in pipeline order. Errors a person can fix are raised as ``CommandError`` and
printed as one line on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from minimal_embed._files import writable_path

TRAIN_STEPS = 600  # TrainConfig's default, named here so --help can say it without importing


class CommandError(Exception):
    """A mistake in the command's input that the user can fix; printed without a traceback."""


def _output_file(path: str | None, option: str) -> None:
    """Refuse, before any work, an output path that could not be written: say why."""
    if path is not None:
        try:
            writable_path(path)
        except OSError as error:
            raise CommandError(f"{option} {path!r}: {error}") from None


def _input_file(path: str | None, option: str) -> None:
    """Refuse, before any work, an input path that is not a readable file."""
    if path is None:
        return
    if path == "" or not Path(path).exists():
        raise CommandError(f"{option} {path!r}: no such file")
    if not Path(path).is_file():
        raise CommandError(f"{option} {path!r} is a folder, not a file")


def _read_texts(arguments: list[str], file: str | None) -> list[str]:
    """The texts of ``embed`` / ``tokenize``: arguments (``-`` is standard input) and ``--file``.

    Standard input and files are UTF-8 and lose one final newline (as ``$(cat file)`` would); a
    byte that is not UTF-8, there or in an argument, becomes U+FFFD with a one-line note.
    """
    texts = []
    for number, argument in enumerate(arguments):
        if argument == "-":
            texts.append(_decoded(sys.stdin.buffer.read(), "standard input"))
        else:
            texts.append(_repaired_argument(argument, f"argument {number + 1}"))
    if file is not None:
        _input_file(file, "--file")
        texts.append(_decoded(Path(file).read_bytes(), file))
    if not texts:
        raise CommandError("give a text, - for standard input, or --file PATH")
    return texts


def _decoded(data: bytes, where: str) -> str:
    """UTF-8 text without one final newline; a note on stderr if bytes had to be replaced."""
    text = data.decode("utf-8", errors="replace")
    if "\ufffd" in text and "\ufffd".encode() not in data:
        print(f"note: {where} is not all UTF-8; each bad byte became U+FFFD", file=sys.stderr)
    return text[:-1] if text.endswith("\n") else text


def _repaired_argument(text: str, where: str) -> str:
    """An argument whose bytes were not UTF-8 (Python keeps them as lone surrogates), repaired."""
    bad = [char for char in text if "\udc80" <= char <= "\udcff"]
    if not bad:
        return text
    print(f"note: {where} has {len(bad)} byte(s) that are not UTF-8; each became U+FFFD",
          file=sys.stderr)
    return "".join("\ufffd" if "\udc80" <= char <= "\udcff" else char for char in text)


def _add_text_arguments(sub: argparse.ArgumentParser, nargs: str) -> None:
    """The text arguments ``embed`` and ``tokenize`` share."""
    sub.add_argument("texts", nargs=nargs, metavar="TEXT",
                     help="the text; - reads standard input (several texts make a batch)")
    sub.add_argument("--file", metavar="PATH",
                     help="read the text from a UTF-8 file (for texts too long for the command "
                          "line)")


def _examples(*lines: str) -> dict:
    """add_parser keywords that show example commands under the help."""
    return {"epilog": "example:\n  " + "\n  ".join(lines),
            "formatter_class": argparse.RawDescriptionHelpFormatter}


# --- sub-commands, in pipeline order ---------------------------------------------------------


def _add_tokenize(subparsers) -> argparse.ArgumentParser:
    sub = subparsers.add_parser(
        "tokenize", help="show how a text is split into pieces, tokens and ids",
        **_examples('minimal-embed tokenize "I love LLMs"',
                    "minimal-embed tokenize --gpt2 gpt2.tiktoken - < notes.txt"),
    )
    _add_text_arguments(sub, "*")
    sub.add_argument(
        "--tokenizer", metavar="PATH", help="a saved tokenizer file (default: the bundled one)"
    )
    sub.add_argument("--gpt2", metavar="PATH",
                     help="use GPT-2's tiktoken rank file (gpt2.tiktoken) for GPT-2's real ids")
    sub.add_argument(
        "--allow-special", action="store_true", help="encode special-token text as its id"
    )
    return sub


def _run_tokenize(args) -> int:
    from minimal_embed.app.walkthrough import abridged, pick_tokenizer, show_token
    from minimal_embed.tokenizer import Tokenizer

    _input_file(args.tokenizer, "--tokenizer")
    if args.tokenizer and args.gpt2:
        raise CommandError("give --tokenizer or --gpt2, not both")
    texts = _read_texts(args.texts, args.file)
    tok = Tokenizer.load(args.tokenizer) if args.tokenizer else pick_tokenizer(args.gpt2)[0]
    allowed = "all" if args.allow_special else ()
    for number, text in enumerate(texts):
        try:
            ids = tok.encode(text, allowed_special=allowed)
        except ValueError as error:
            raise CommandError(f"{error} (here: pass --allow-special)") from None
        pieces = tok.split(text, allowed_special=allowed)
        if len(texts) > 1:
            print(f"text {number}:")
        print("pieces:", abridged(" ".join(repr(piece) for piece in pieces), len(pieces),
                                  "pieces"))
        # a token that is not whole UTF-8 characters is shown as its bytes, b'\xf0\x9f'
        print("tokens:", abridged(" ".join(show_token(tok.token_bytes(i)) for i in ids),
                                  len(ids), "tokens"))
        print("ids:   ", abridged(" ".join(str(i) for i in ids), len(ids), "ids"))
        print("count: ", len(ids))
    return 0


def _add_train_tokenizer(subparsers) -> argparse.ArgumentParser:
    sub = subparsers.add_parser(
        "train-tokenizer",
        help="train a byte-level BPE tokenizer (default: reproduce the bundled one)",
        **_examples("minimal-embed train-tokenizer -o tokenizer.txt   # the bundled one, a few s",
                    "minimal-embed train-tokenizer notes/*.txt --vocab-size 4096 -o mine.txt"),
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


def _lines(paths: list) -> Iterator[str]:
    """The lines of the files in turn; ValueError naming a file that is not UTF-8."""
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            try:
                yield from handle
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}: not UTF-8 text ({error.reason})") from None


def _run_train_tokenizer(args) -> int:
    import time

    from minimal_embed import data
    from minimal_embed.tokenizer import Tokenizer

    for path in args.files:
        _input_file(path, "FILE")
    _output_file(args.output, "-o")
    if args.special is not None and "" in args.special:
        raise CommandError("--special needs the text of a token, got an empty string")
    paths = args.files or data.corpus_files()
    specials = args.special if args.special is not None else ["<|endoftext|>"]
    started = time.perf_counter()
    # each file streams line by line, so memory grows with the distinct pieces only
    tok = Tokenizer.train(_lines(paths), args.vocab_size, special_tokens=specials, progress=True)
    tok.save(args.output)
    elapsed = time.perf_counter() - started
    print(f"trained {tok.vocab_size} ids on {len(paths)} file(s) in {elapsed:.2f} s; "
          f"saved to {args.output}")
    return 0


def _add_embed(subparsers) -> argparse.ArgumentParser:
    sub = subparsers.add_parser(
        "embed", help="show every step from text to input embeddings, with shapes and values",
        **_examples('minimal-embed embed "I love LLMs" "Hi there"',
                    "minimal-embed embed --positions sinusoidal --file notes.txt"),
    )
    _add_text_arguments(sub, "*")
    sub.add_argument("--positions", choices=["learned", "sinusoidal"],
                     help="position scheme (default: the checkpoint's own)")
    sub.add_argument("--checkpoint", metavar="PATH",
                     help="a checkpoint from `minimal-embed train` (default: the bundled one)")
    sub.add_argument("--model", metavar="FOLDER",
                     help="a downloaded Hugging Face model (config.json, model.safetensors, "
                          "vocab.json + merges.txt): its tokenizer, table and positions")
    sub.add_argument("--dim", type=int, default=6, help="values printed per row (default 6)")
    sub.add_argument("--save", metavar="OUT.npz",
                     help="write ids, mask, token/position/input embeddings to an .npz file")
    sub.add_argument("--gpt2", metavar="PATH",
                     help="use GPT-2's tiktoken rank file (gpt2.tiktoken) for GPT-2's real ids")
    sub.add_argument("--batch-first", action="store_true",
                     help="arrays as (batch, seq_len, ...) instead of (seq_len, batch, ...)")
    sub.add_argument("--allow-special", action="store_true",
                     help="encode special-token text such as <|endoftext|> as its id")
    return sub


def _run_embed(args) -> int:
    from minimal_embed.app import walkthrough

    _output_file(args.save, "--save")
    _input_file(args.checkpoint, "--checkpoint")
    args.texts = _read_texts(args.texts, args.file)
    if args.model:
        lines, result = _walk_model(args)
    else:
        tokenizer, name = walkthrough.pick_tokenizer(args.gpt2)
        lines, result = walkthrough.walk(
            args.texts, tokenizer, tokenizer_name=name, positions=args.positions, dim=args.dim,
            batch_first=args.batch_first, allow_special=args.allow_special,
            checkpoint=args.checkpoint or walkthrough.bundled_checkpoint())
    print("\n".join(lines))
    if args.save:
        print(f"saved ids, mask, token_embeddings, position_embeddings, input_embeddings "
              f"to {result.save(args.save)}")
    return 0


def _walk_model(args):
    """``embed --model FOLDER``: the walkthrough on a published model's own stage."""
    from minimal_embed.app import walkthrough
    from minimal_embed.pretrained import load_pretrained

    clashing = [flag for flag, value in (("--positions", args.positions),
                                         ("--checkpoint", args.checkpoint),
                                         ("--gpt2", args.gpt2)) if value]
    if clashing:
        raise CommandError(f"--model brings its own tokenizer, table and positions; leave out "
                           f"{', '.join(clashing)}")
    model = load_pretrained(args.model)
    if model.tokenizer is None:
        raise CommandError(f"{args.model} has no tokenizer this package reads (tokenizer.json, "
                           "or GPT-2's vocab.json + merges.txt); its tables can still be read in "
                           "Python with minimal_embed.load_pretrained")
    source = ("tokenizer.json" if (model.folder / "tokenizer.json").is_file()
              else "vocab.json + merges.txt")
    return walkthrough.walk(args.texts, model.tokenizer,
                            tokenizer_name=f"{model.folder.name}'s {source}",
                            dim=args.dim, batch_first=args.batch_first,
                            allow_special=args.allow_special,
                            stage=walkthrough.pretrained_stage(model))


def _add_plot(subparsers) -> argparse.ArgumentParser:
    sub = subparsers.add_parser("plot", help="pictures: position table, similarities, tokens",
                                **_examples("minimal-embed plot positions --out positions.png",
                                            "minimal-embed plot similarity",
                                            "minimal-embed plot tokens ' love' ' like' ' Monday'"))
    pictures = sub.add_subparsers(dest="picture", metavar="PICTURE")
    pictures.required = True
    helps = {"positions": "the sinusoidal position table as a heatmap (positions x dims)",
             "similarity": "position-position dot products: sinusoidal vs trained learned",
             "tokens": "2-D PCA scatter of trained token vectors, labelled"}
    for picture, text in helps.items():
        one = pictures.add_parser(picture, help=text)
        one.add_argument("--out", metavar="FILE.png", help="write a PNG (default: the terminal)")
        one.add_argument("--no-color", action="store_true", help="plain characters, no colour")
        if picture != "positions":
            one.add_argument("--checkpoint", metavar="PATH",
                             help="a checkpoint from `minimal-embed train` (default: the bundled "
                                  "one)")
        if picture == "positions":
            one.add_argument("--length", type=int, help="positions (default 64; a model's "
                                                          "learned table: all of it)")
            one.add_argument("--dim", type=int, help="dimensions (default 128, or terminal width)")
            one.add_argument("--halves", action="store_true",
                             help="the [all sin | all cos] layout instead of interleaved columns")
            one.add_argument("--model", metavar="FOLDER",
                             help="a Hugging Face model folder: its learned table's cosine "
                                  "similarities, its RoPE angles or its score bias")
        if picture == "similarity":
            one.add_argument("--dot", action="store_true",
                             help="dot products instead of cosines (the default takes the row "
                                  "lengths out, so a trained table's structure shows)")
            one.add_argument("--cosine", action="store_true", help=argparse.SUPPRESS)
        if picture == "tokens":
            one.add_argument("tokens", nargs="*", metavar="TOKEN",
                             help="single tokens, e.g. ' love' (default: the most frequent words)")
            one.add_argument("--top", type=int, default=40,
                             help="how many tokens (default 40, at most 60: more is unreadable)")
    return sub


def _run_plot(args) -> int:
    import shutil

    from minimal_embed.app import plots, viz, walkthrough

    _output_file(args.out, "--out")
    _input_file(getattr(args, "checkpoint", None), "--checkpoint")
    color = viz.use_color(args.no_color)
    width = shutil.get_terminal_size((100, 24)).columns
    if args.picture == "positions" and args.model:
        from minimal_embed.pretrained import load_pretrained

        print(plots.plot_model_positions(load_pretrained(args.model), out=args.out, color=color,
                                         length=args.length, terminal_width=width))
        return 0
    if args.picture == "positions":
        print(plots.plot_positions(out=args.out, color=color,
                                   length=64 if args.length is None else args.length,
                                   dim=args.dim, terminal_width=width, halves=args.halves))
        return 0
    from minimal_embed.pipeline import InputEmbedding

    path = args.checkpoint or walkthrough.bundled_checkpoint()
    stage = None if path is None else InputEmbedding.load(path, None)
    if args.picture == "similarity":
        print(plots.plot_similarity(stage, out=args.out, color=color, cosine=not args.dot))
    else:
        from minimal_embed import data
        from minimal_embed.tokenizer import load_tokenizer

        print(plots.plot_tokens(stage, load_tokenizer(), args.tokens, top=args.top,
                                corpus=data.corpus_text(), out=args.out, terminal_width=width))
    return 0


def _add_train(subparsers) -> argparse.ArgumentParser:
    sub = subparsers.add_parser(
        "train", help="train the embeddings: a one-layer attention model on the bundled corpus",
        **_examples("minimal-embed train -o checkpoint.npz    # 600 steps, 1-4 minutes on 2 cores",
                    "minimal-embed train --positions alibi --steps 100 -o alibi.npz"),
    )
    sub.add_argument("--positions", default="learned",
                     choices=["learned", "sinusoidal", "none", "alibi", "rope", "t5"],
                     help="position scheme (default: learned)")
    sub.add_argument("--steps", type=int, default=None, metavar="N",
                     help=f"optimizer steps (default {TRAIN_STEPS}, the shipped checkpoint's: "
                          "1-4 minutes on 2 cores)")
    sub.add_argument("--seq-len", type=int, default=64, help="tokens per window (default 64)")
    sub.add_argument("--d-model", type=int, default=128, help="vector width (default 128)")
    sub.add_argument("--batch-size", type=int, default=32, help="windows per step (default 32)")
    sub.add_argument("--seed", type=int, default=0, help="seed of weights and batches (default 0)")
    sub.add_argument("-o", "--output", default="checkpoint.npz",
                     help="where to save (default: checkpoint.npz)")
    return sub


def _run_train(args) -> int:
    from minimal_embed.train import TrainConfig, train

    _output_file(args.output, "-o")
    defaults = TrainConfig()
    config = TrainConfig(positions=args.positions,
                         steps=defaults.steps if args.steps is None else args.steps,
                         seq_len=args.seq_len, d_model=args.d_model, batch_size=args.batch_size,
                         seed=args.seed)
    result = train(config, output=args.output)
    how = f"interrupted at step {result.steps_done}" if result.interrupted else "trained"
    print(f"{how}: {result.steps_done} steps in {result.seconds:.1f} s, train loss "
          f"{result.train_loss:.3f}, val loss {result.val_loss:.3f} nats/token; "
          f"saved to {args.output}")
    return 130 if result.interrupted else 0


def _add_neighbors(subparsers) -> argparse.ArgumentParser:
    sub = subparsers.add_parser(
        "neighbors", help="nearest tokens by cosine similarity in the trained token table",
        **_examples("minimal-embed neighbors ' the' --top 5"),
    )
    sub.add_argument("token", help="the text of one token, e.g. ' love' (note the space)")
    sub.add_argument("--top", type=int, default=10, help="how many neighbours (default 10)")
    sub.add_argument("--checkpoint", metavar="PATH",
                     help="a checkpoint from `minimal-embed train` (default: the bundled one)")
    return sub


def _run_neighbors(args) -> int:
    from minimal_embed import data
    from minimal_embed._checks import check_integer
    from minimal_embed.app.walkthrough import show_token
    from minimal_embed.pipeline import InputEmbedding
    from minimal_embed.tokenizer import load_tokenizer
    from minimal_embed.train import nearest_tokens

    tok = load_tokenizer()
    ids = tok.encode(args.token)

    def show(token_id: int) -> str:
        return show_token(tok.token_bytes(token_id))

    if len(ids) != 1:
        pieces = " + ".join(f"{show(i)} ({i})" for i in ids) or "no tokens at all"
        raise CommandError(f"{args.token!r} is not a single token: it splits into {pieces}; "
                           "pass one token's text, e.g. one of those")
    check_integer("--top", args.top, least=1)
    _input_file(args.checkpoint, "--checkpoint")
    path = args.checkpoint or data.path("checkpoint.npz")
    table = InputEmbedding.load(path, None).token_embedding.weight  # (V, d_model)
    if table.shape[0] != tok.vocab_size:
        raise CommandError(f"{path} has {table.shape[0]} token rows but the bundled tokenizer "
                           f"has {tok.vocab_size} ids; train a checkpoint with this tokenizer")
    neighbours, similarities = nearest_tokens(table, ids[0], k=args.top)
    print(f"nearest tokens to {show(ids[0])} (id {ids[0]}) by cosine similarity in {path}:")
    for rank, (token_id, similarity) in enumerate(zip(neighbours, similarities, strict=True), 1):
        print(f"{rank:>3}  {show(int(token_id)):<16} id {int(token_id):>5}  {similarity:+.3f}")
    return 0


# --- the parser ------------------------------------------------------------------------------

# (add_function, run_function) pairs, in pipeline order: tokenize, train-tokenizer, embed, plot,
# train, neighbors.
_COMMANDS: list = [
    (_add_tokenize, _run_tokenize),
    (_add_train_tokenizer, _run_train_tokenizer),
    (_add_embed, _run_embed),
    (_add_plot, _run_plot),
    (_add_train, _run_train),
    (_add_neighbors, _run_neighbors),
]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every sub-command registered in ``_COMMANDS``."""
    from minimal_embed import __version__

    parser = argparse.ArgumentParser(
        prog="minimal-embed",
        description="How a language model turns text into input vectors, step by step.",
        **_examples('minimal-embed embed "I love LLMs"', "minimal-embed embed --help"),
    )
    parser.add_argument("--version", action="version", version=f"minimal-embed {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for add_command, run_command in _COMMANDS:
        sub = add_command(subparsers)
        sub.set_defaults(run=run_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit code.

    0 on success, 2 for a mistake the user can fix (one line on stderr, no traceback), 130 when
    interrupted, 141 when the reader of the output went away.

    Examples
    --------
    >>> main(["tokenize", "I love LLMs"])
    pieces: 'I' ' love' ' LLMs'
    tokens: 'I' ' love' ' L' 'L' 'M' 's'
    ids:    73 1004 619 76 77 115
    count:  6
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:
        # The reader went away (`minimal-embed embed ... | head`): stop quietly, as Unix tools
        # do. Point stdout at devnull so the interpreter's final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (CommandError, OSError, ValueError, TypeError) as error:
        # OSError: a file that vanished or a full disk while writing (the writers are atomic)
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


__all__ = ["CommandError", "build_parser", "main"]
