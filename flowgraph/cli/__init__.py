"""The ``flowgraph`` command (``demo``, ``run``, ``show``, ``preview``); see docs/cli.md."""

from flowgraph.cli.commands import main

__all__ = ["main"]
