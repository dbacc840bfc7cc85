"""``python -m langgraph_ttc.integrations.server [options]``: the same as ``ttc serve``."""

from __future__ import annotations

import sys

from langgraph_ttc.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", *sys.argv[1:]]))
