"""``python -m langgraph_ttc.training --out DIR``: train the bundled models."""

from langgraph_ttc.training.cli import main

main()
