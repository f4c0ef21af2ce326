"""``python -m minimal_embed`` runs the same command line as ``minimal-embed``."""

from minimal_embed.app.cli import main

if __name__ == "__main__":  # the guard keeps pytest's doctest collection from running the CLI
    raise SystemExit(main())
