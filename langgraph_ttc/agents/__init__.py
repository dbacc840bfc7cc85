"""Test-time compute for LangChain agents (``langchain.agents.create_agent``).

``TTCMiddleware`` samples each model call of an agent several times, groups
the samples (tool calls by canonical name and arguments, final answers by the
answer) and returns the winner by vote, verifier or judge, or the model's
confidence. Needs ``langchain>=1``: ``pip install 'langgraph-ttc[agents]'``.
"""

from __future__ import annotations

from langgraph_ttc.agents.middleware import USAGE_KEYS, Judge, TTCAgentState, TTCMiddleware

__all__ = ["USAGE_KEYS", "Judge", "TTCAgentState", "TTCMiddleware"]
