"""A ``StateGraph`` that compiles under its own name: graphs trace as their strategy.

LangGraph names a compiled graph ``"LangGraph"`` unless ``compile(name=...)``
says otherwise, and an uncompiled ``StateGraph`` carries no name of its own.
The builders return this subclass instead, so that ``graph.compile()`` traces
as ``beam_search`` or ``ttc`` (the builder's ``name`` option); a ``name``
given to ``compile`` still wins. It is a ``StateGraph`` in every other way.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.typing import ContextT, InputT, OutputT, StateT

__all__ = ["NamedStateGraph"]


class NamedStateGraph(StateGraph[StateT, ContextT, InputT, OutputT]):
    """A ``StateGraph`` whose ``compile()`` defaults ``name`` to the graph's own.

    Args:
        name: The compiled graph's default name (its root run in traces).
        **kwargs: What ``StateGraph`` takes (``state_schema``, ``context_schema``, ...).

    Raises:
        ValueError: For an empty name.
    """

    def __init__(self, *, name: str, **kwargs: Any) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        super().__init__(**kwargs)
        self.name = name

    def compile(  # type: ignore[override]
        self, *args: Any, name: str | None = None, **kwargs: Any
    ) -> CompiledStateGraph[StateT, ContextT, InputT, OutputT]:
        """``StateGraph.compile``, named after the graph unless ``name`` is given."""
        return super().compile(*args, name=name or self.name, **kwargs)
