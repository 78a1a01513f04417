"""``python -m flowgraph.cli``: the ``flowgraph`` command."""

import sys

from flowgraph.cli.commands import main

sys.exit(main())
