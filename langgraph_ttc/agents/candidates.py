"""Candidates of one agent model call: their group keys, scores, and the winner.

A model call of an agent answers in one of three ways, and two samples are
"the same answer" when:

- **tool calls**: they call the same tools with the same arguments. The key
  is the sorted list of ``(name, arguments)`` in canonical JSON: keys sorted,
  strings stripped of surrounding blanks, integral floats written as ints
  (``{"n": 2.0}`` is ``{"n": 2}``); the order of parallel calls and their ids
  do not matter.
- **a structured response**: the same structured value (canonical JSON).
- **a final answer**: the same answer. By default the answer is read as the
  library reads solutions (``#### X``, ``\\boxed{X}``, "the answer is X",
  compared in canonical form: ``7.0`` is ``7``); text with no such answer is
  compared whole, case and blanks folded. Pass your own ``answer_key`` for
  another notion of "same".

Selection (:func:`select`): ``vote`` counts samples per group; ``verifier``
and ``confidence`` sum a score per sample over its group (weighted voting,
as in weighted best-of-N). Ties go to the group seen first.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from langgraph_ttc.answers import canonical, extract_answer

__all__ = [
    "Candidate",
    "Group",
    "candidate_key",
    "canonical_json",
    "default_answer_key",
    "logprob_confidence",
    "render_candidate",
    "select",
]

AnswerKey = Callable[[str], str]


@dataclass
class Candidate:
    """One sample of a model call.

    Attributes:
        index: The sample's place in the order samples were drawn.
        message: The model's ``AIMessage``.
        response: What the agent's handler returned for the sample (a
            ``ModelResponse``: the message, and the structured response if any).
        key: The group key (see the module docstring).
        score: The sample's score (verifier, judge or confidence); 1 for a vote.
    """

    index: int
    message: AIMessage
    response: Any
    key: str
    score: float = 1.0


@dataclass
class Group:
    """Samples that give the same answer.

    Attributes:
        key: The shared key.
        members: The samples, in draw order.
        total: The sum of their scores.
    """

    key: str
    members: list[Candidate] = field(default_factory=list)
    total: float = 0.0

    @property
    def best(self) -> Candidate:
        """The member to return: the highest score, the earliest on ties."""
        return max(self.members, key=lambda c: (c.score, -c.index))


def _canon_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Mapping):
        return {str(k): _canon_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canon_value(v) for v in value]
    if hasattr(value, "model_dump"):
        return _canon_value(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _canon_value(dataclasses.asdict(value))
    return value


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON (see the module docstring); non-JSON leaves as ``repr``."""
    return json.dumps(
        _canon_value(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
    )


_BLANKS = re.compile(r"\s+")


def default_answer_key(text: str) -> str:
    """The final answer of ``text`` in canonical form, else the whole text folded."""
    answer = extract_answer(text)
    if answer is not None and answer.strip():
        return "answer:" + canonical(answer)
    return "text:" + _BLANKS.sub(" ", text).strip().rstrip(".!").casefold()


def candidate_key(
    message: AIMessage, structured: Any = None, *, answer_key: AnswerKey = default_answer_key
) -> str:
    """The group key of one sample (see the module docstring)."""
    if message.tool_calls:
        calls = sorted(
            canonical_json({"name": call["name"], "args": call.get("args") or {}})
            for call in message.tool_calls
        )
        return "tools:" + "|".join(calls)
    if structured is not None:
        return "structured:" + canonical_json(structured)
    return answer_key(message.text)


def render_candidate(message: AIMessage) -> str:
    """A sample as text for a verifier or judge: its text, then one line per tool call."""
    text = str(message.text)
    lines = [text] if text.strip() else []
    for call in message.tool_calls:
        lines.append(f"call {call['name']}({canonical_json(call.get('args') or {})})")
    return "\n".join(lines) or "(empty reply)"


def logprob_confidence(message: AIMessage) -> float | None:
    """The geometric mean of the sample's token probabilities, where the model gave logprobs.

    Reads OpenAI's shape, ``response_metadata["logprobs"]["content"][i]["logprob"]``
    (``ChatOpenAI(logprobs=True)``), or a plain list of numbers. ``None`` when absent.
    """
    raw = (message.response_metadata or {}).get("logprobs")
    if isinstance(raw, Mapping):
        raw = raw.get("content")
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        return None
    values: list[float] = []
    for item in raw:
        value = item.get("logprob") if isinstance(item, Mapping) else item
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        values.append(float(value))
    if not all(math.isfinite(v) for v in values):
        return None
    return math.exp(sum(values) / len(values))


def select(candidates: Sequence[Candidate]) -> tuple[Group, list[Group]]:
    """The winning group and every group, in first-seen order.

    Each group's total is the sum of its members' scores; the highest total
    wins, the group seen first on ties.

    Raises:
        ValueError: If there is no candidate.
    """
    if not candidates:
        raise ValueError("no candidate to select from")
    groups: dict[str, Group] = {}
    for cand in candidates:
        group = groups.setdefault(cand.key, Group(cand.key))
        group.members.append(cand)
        group.total += cand.score
    ordered = list(groups.values())
    winner = max(ordered, key=lambda g: (g.total, -ordered.index(g)))
    return winner, ordered


def question_text(messages: Sequence[BaseMessage]) -> str:
    """The text of the last human message (the verifier's question), else ``""``."""
    for message in reversed(messages):
        if message.type == "human":
            return message.text
    return ""
