"""``python -m minimal_embed`` runs the same command line as ``minimal-embed``."""

from minimal_embed.cli import main

raise SystemExit(main())
