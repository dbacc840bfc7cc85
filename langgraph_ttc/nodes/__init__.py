"""The graph nodes: generate, verify, revise, branch, select, and their helpers.

Each ``make_*_node`` returns a LangGraph node with a sync and an async body
(see :mod:`langgraph_ttc.nodes.calls`). Nodes read run settings from
``Runtime[TTCContext]``, batch all their work in one adapter call, report
progress on the custom stream, and return only what they changed.
"""

from langgraph_ttc.nodes.branch import make_branch_node
from langgraph_ttc.nodes.calls import GenerateCall, ScoreCall, make_node
from langgraph_ttc.nodes.candidates import question_prompt, revision_prompt
from langgraph_ttc.nodes.generate import make_generate_node
from langgraph_ttc.nodes.prepare import make_prepare_node
from langgraph_ttc.nodes.prune import make_prune_node
from langgraph_ttc.nodes.revise import make_revise_node
from langgraph_ttc.nodes.rollout import make_rollout_node
from langgraph_ttc.nodes.select import make_select_node
from langgraph_ttc.nodes.settings import derive_seed
from langgraph_ttc.nodes.verify import make_verify_node

__all__ = [
    "GenerateCall",
    "ScoreCall",
    "derive_seed",
    "make_branch_node",
    "make_generate_node",
    "make_node",
    "make_prepare_node",
    "make_prune_node",
    "make_revise_node",
    "make_rollout_node",
    "make_select_node",
    "make_verify_node",
    "question_prompt",
    "revision_prompt",
]
