"""The people-facing side: the ``minimal-embed`` command, the walkthrough and the pictures.

Nothing here adds mathematics; these modules run the pipeline and show its arrays to a person.

- :mod:`~minimal_embed.app.cli`: the command line, one ``_add_NAME`` / ``_run_NAME`` pair per
  sub-command;
- :mod:`~minimal_embed.app.walkthrough`: ``minimal-embed embed``, text to input embeddings with
  the shape and the first values at every step, and ``show_token``, how a token looks
  wherever one is shown;
- :mod:`~minimal_embed.app.plots`: the three pictures of ``minimal-embed plot``;
- :mod:`~minimal_embed.app.viz`: colour maps, a PNG writer and terminal heatmaps in NumPy alone;
- :mod:`~minimal_embed.app.font5x7`: the bitmap font that labels the pictures.
"""
