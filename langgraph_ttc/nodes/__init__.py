"""The generic graph nodes: prepare, generate, verify, revise, branch, prune, select.

Each ``make_*_node`` returns a LangGraph node with a sync and an async body
(run by :mod:`langgraph_ttc.engine.driver`). A node never names a strategy:
what differs between algorithms (how many samples, which paths to keep, how
to expand them, how to select) is a rule the strategy passes in. Nodes read
run settings from ``Runtime[TTCContext]``, batch all their work in one
adapter call, report progress on the custom stream, and return only what
they changed.
"""

from langgraph_ttc.nodes.branch import ExpandRule, make_branch_node
from langgraph_ttc.nodes.generate import Sampling, make_generate_node
from langgraph_ttc.nodes.prepare import make_prepare_node
from langgraph_ttc.nodes.prune import KeepRule, make_prune_node
from langgraph_ttc.nodes.revise import ChainRule, make_revise_node
from langgraph_ttc.nodes.select import (
    Selected,
    SelectRule,
    ballot,
    confidence_weight,
    make_select_node,
    probe_quota,
    vote,
)
from langgraph_ttc.nodes.verify import make_verify_node

__all__ = [
    "ChainRule",
    "ExpandRule",
    "KeepRule",
    "Sampling",
    "SelectRule",
    "Selected",
    "ballot",
    "confidence_weight",
    "make_branch_node",
    "make_generate_node",
    "make_prepare_node",
    "make_prune_node",
    "make_revise_node",
    "make_select_node",
    "make_verify_node",
    "probe_quota",
    "vote",
]
