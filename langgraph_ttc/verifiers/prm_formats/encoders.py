"""How each published PRM reads a solution: its input tokens and its score positions.

Each encoder turns ``(question, steps)`` into a
:class:`~langgraph_ttc.verifiers.prm.PRMEncoding` (the text, the token ids
and, per step, the index of the token whose output is that step's score)
exactly as the model's authors' published inference code builds it. Only a
tokenizer is needed (no torch), so the local verifier and the remote one
(:class:`~langgraph_ttc.verifiers.prm_formats.remote.VLLMPRM`) send the model
the same ids.

Sources followed (where a reimplementation differs, the authors win):

- Math-Shepherd: the model card of ``peiyi9979/math-shepherd-mistral-7b-prm``
  (``input_for_prm = f"{question} {output}"`` with steps ``"... ки\\n... ки"``,
  ``candidate_tokens = tokenizer.encode("+ -")[1:]``, ``step_tag_id =
  tokenizer.encode("ки")[-1]``, scores where ``input_id == step_tag_id``).
  search-and-learn's ``MathShepherd`` adds a system prompt and ``"\\n\\n"``
  between steps; the authors do not.
- RLHFlow: ``math-rm/prm_evaluate.py`` of RLHFlow/RLHF-Reward-Modeling (each
  stripped step a user turn, the first prefixed by ``question + " "``, each
  answered ``"+"``; the score is read at position ``-3`` of the chat template
  rendered up to that step: the token before the assistant's ``"+"``).
- Qwen2.5-Math-PRM: its model card (system prompt, steps joined by and ending
  with ``<extra_0>`` in the assistant turn, scores where ``input_ids ==
  tokenizer.encode("<extra_0>")[0]``).
- Skywork-o1-Open-PRM: ``model_utils/io_utils.py:prepare_input`` of
  SkyworkAI/skywork-o1-prm-inference (``encode(bos_token + problem + "\\n")``,
  then each step encoded on its own followed by the step token's id, a reward
  flag on that id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from langgraph_ttc.formats import BAD_TOKEN, GOOD_TOKEN, STEP_TAG
from langgraph_ttc.verifiers.prm import (
    PRM_TEMPLATE,
    PRMEncoding,
    encode_prm_input,
    resolve_single_token,
)

__all__ = [
    "MATH_SHEPHERD_STEP_TAG",
    "QWEN_PRM_STEP_TOKEN",
    "QWEN_PRM_SYSTEM",
    "BundledEncoder",
    "MathShepherdEncoder",
    "QwenPRMEncoder",
    "RLHFlowEncoder",
    "SkyworkEncoder",
    "StepEncoder",
    "token_in_vocab",
]

MATH_SHEPHERD_STEP_TAG = "ки"
QWEN_PRM_STEP_TOKEN = "<extra_0>"
QWEN_PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


class StepEncoder(Protocol):
    """Builds one solution's model input and score positions."""

    def encode(self, question: str, steps: Sequence[str]) -> PRMEncoding:
        """The input and the position read for each step."""
        ...


def token_in_vocab(tokenizer: Any, token: str) -> bool:
    """Whether ``token`` (or its SentencePiece ``▁`` form) is one vocabulary entry."""
    vocab = tokenizer.get_vocab()
    return token in vocab or f"\u2581{token}" in vocab


def _ids(out: Any) -> list[int]:
    """Token ids from ``encode`` or ``apply_chat_template`` (a list or a BatchEncoding)."""
    if isinstance(out, Mapping):
        out = out["input_ids"]
    if hasattr(out, "tolist"):
        out = out.tolist()
    if out and isinstance(out[0], list):  # a batch of one
        out = out[0]
    return [int(i) for i in out]


def _positions_of(ids: list[int], token_id: int, steps: int, what: str) -> list[int]:
    found = [i for i, t in enumerate(ids) if t == token_id]
    if len(found) != steps:
        raise ValueError(
            f"the rendered input holds {len(found)} {what} tokens (id {token_id}) for {steps} "
            "steps: the tokenizer does not keep the step token whole in context"
        )
    return found


class MathShepherdEncoder:
    """``f"{question} {step_1} ки\\n{step_2} ки\\n...{step_k} ки"``, read at each ``ки``.

    As the Math-Shepherd model card does it: ``tokenizer.encode`` adds the
    BOS; the good and bad tokens are ``tokenizer.encode("+ -")`` without the
    BOS (``"▁+"``, ``"▁-"`` for Mistral); every position whose id is
    ``tokenizer.encode("ки")[-1]`` is a step score. Tags inside the question
    or a step are deleted first, so the tags read are exactly the step ends.

    Raises:
        ValueError: If the tokenizer has no ``ки`` token, or ``"+ -"`` is not
            two tokens.
    """

    def __init__(self, tokenizer: Any, *, step_tag: str = MATH_SHEPHERD_STEP_TAG) -> None:
        if not token_in_vocab(tokenizer, step_tag):
            raise ValueError(
                f"the tokenizer has no step tag token {step_tag!r}: not a Math-Shepherd PRM "
                "(pass format= for another format)"
            )
        self.tokenizer = tokenizer
        self.step_tag = step_tag
        self.step_tag_id = _ids(tokenizer.encode(step_tag))[-1]
        pair = _ids(tokenizer.encode("+ -"))
        if pair and pair[0] == tokenizer.bos_token_id:
            pair = pair[1:]
        if len(pair) != 2:
            raise ValueError(f"'+ -' encodes to {pair}, not to a good and a bad token")
        self.good_id, self.bad_id = pair

    def encode(self, question: str, steps: Sequence[str]) -> PRMEncoding:
        """The model card's input and the positions of its step tags."""
        tag = self.step_tag
        output = "\n".join(f"{s.replace(tag, '')} {tag}" for s in steps)
        text = f"{question.replace(tag, '')} {output}"
        ids = _ids(self.tokenizer.encode(text))
        return PRMEncoding(text, ids, _positions_of(ids, self.step_tag_id, len(steps), tag))


class BundledEncoder:
    """The bundled PRM's format (:func:`~langgraph_ttc.verifiers.prm.encode_prm_input`).

    ``bos + question + "\\n" + step + " ки\\n" + ...``, read at each tag's
    last token; the good and bad tokens are ``"+"`` and ``"-"``. What
    :class:`~langgraph_ttc.verifiers.prm.TransformersPRM` reads, for the
    remote PRM.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.step_tag_id = _ids(tokenizer.encode(STEP_TAG, add_special_tokens=False))[-1]
        self.good_id = resolve_single_token(tokenizer, GOOD_TOKEN, "good_token")
        self.bad_id = resolve_single_token(tokenizer, BAD_TOKEN, "bad_token")

    def encode(self, question: str, steps: Sequence[str]) -> PRMEncoding:
        """As :class:`~langgraph_ttc.verifiers.prm.TransformersPRM` encodes it."""
        return encode_prm_input(self.tokenizer, question, steps, template=PRM_TEMPLATE)


class RLHFlowEncoder:
    """A chat where each step is a user turn and the assistant answers ``"+"``.

    As ``math-rm/prm_evaluate.py`` does it: steps are stripped, the first turn
    is ``question + " " + step_1``, and step k's score is read at index ``-3``
    of ``apply_chat_template`` over the first k exchanges (the token before
    the assistant's ``"+"``). The authors run one forward pass per prefix;
    a causal model gives the same logits there in one pass over the whole
    chat, which is checked to start with every prefix.

    Raises:
        ValueError: If the tokenizer has no chat template.
    """

    def __init__(self, tokenizer: Any) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("the tokenizer has no chat template: an RLHFlow PRM needs one")
        self.tokenizer = tokenizer
        self.good_id = _ids(tokenizer.encode("+"))[-1]
        self.bad_id = _ids(tokenizer.encode("-"))[-1]

    def _render(self, conversation: list[dict[str, str]]) -> list[int]:
        return _ids(self.tokenizer.apply_chat_template(conversation, tokenize=True))

    def encode(self, question: str, steps: Sequence[str]) -> PRMEncoding:
        """The whole chat's ids, and per step the authors' ``-3`` position of its prefix."""
        conversation: list[dict[str, str]] = []
        positions: list[int] = []
        for k, step in enumerate(s.strip() for s in steps):
            text = f"{question} {step}" if k == 0 else step
            conversation.append({"content": text, "role": "user"})
            conversation.append({"content": "+", "role": "assistant"})
            positions.append(len(self._render(conversation)) - 3)
        ids = self._render(conversation)
        for k, pos in enumerate(positions):
            prefix = self._render(conversation[: 2 * k + 2])
            if ids[: len(prefix)] != prefix:
                raise ValueError(
                    "the chat template renders a conversation's prefix differently from the "
                    "whole: one forward pass cannot score each step as the authors do"
                )
            if ids[pos + 1] != self.good_id:
                raise ValueError(
                    f"the token after the score position of step {k} is {ids[pos + 1]}, not "
                    f"'+' ({self.good_id}): the chat template is not Llama-3 style"
                )
        text = self.tokenizer.decode(ids)
        return PRMEncoding(text, ids, positions)


class QwenPRMEncoder:
    """The Qwen2.5-Math-PRM chat: steps joined by and ending with ``<extra_0>``.

    As the model card does it: ``apply_chat_template`` over the system prompt,
    the question and ``"<extra_0>".join(steps) + "<extra_0>"`` (no generation
    prompt), then ``tokenizer.encode`` of that text, read at every
    ``<extra_0>``. ``<extra_0>`` inside the question or a step is deleted.

    Raises:
        ValueError: If the tokenizer has no ``<extra_0>`` token or no chat template.
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        system: str = QWEN_PRM_SYSTEM,
        step_token: str = QWEN_PRM_STEP_TOKEN,
    ) -> None:
        if step_token not in tokenizer.get_vocab():
            raise ValueError(
                f"the tokenizer has no step token {step_token!r}: not a Qwen2.5-Math-PRM tokenizer"
            )
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("the tokenizer has no chat template: a Qwen2.5-Math-PRM needs one")
        self.tokenizer = tokenizer
        self.system = system
        self.step_token = step_token
        self.step_id = _ids(tokenizer.encode(step_token))[0]

    def encode(self, question: str, steps: Sequence[str]) -> PRMEncoding:
        """The model card's chat and the positions of its ``<extra_0>`` tokens."""
        tok = self.step_token
        messages = [
            {"role": "system", "content": self.system},
            {"role": "user", "content": question.replace(tok, "")},
            {"role": "assistant", "content": tok.join(s.replace(tok, "") for s in steps) + tok},
        ]
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=False
        )
        ids = _ids(self.tokenizer.encode(text))
        return PRMEncoding(text, ids, _positions_of(ids, self.step_id, len(steps), tok))


class SkyworkEncoder:
    """Skywork-o1-Open-PRM: the prompt, then each step's own tokens and the step token.

    As ``prepare_input`` does it: ``encode(bos_token + problem + "\\n")``, then
    for each step ``encode(step) + [step_token_id]`` with the reward read at
    that appended id, ``step_token_id = encode(step_token)[-1]``. The authors
    cut the response at ``"\\n"`` (their README's ``step_token``); here the
    step token is the verifier's ``step_delimiter``, and blank pieces, which
    the authors would score as steps of their own, are not steps.

    A tokenizer without a BOS token gets an empty one (the authors' code
    would fail on it).
    """

    def __init__(self, tokenizer: Any, *, step_token: str = "\n") -> None:
        self.tokenizer = tokenizer
        self.step_token = step_token
        self.step_token_id = _ids(tokenizer.encode(step_token))[-1]
        self.bos = tokenizer.bos_token or ""

    def encode(self, question: str, steps: Sequence[str]) -> PRMEncoding:
        """The concatenated ids, and the index of each step's appended step token."""
        ids = _ids(self.tokenizer.encode(self.bos + question + "\n"))
        positions: list[int] = []
        text = self.bos + question + "\n"
        for step in steps:
            ids += _ids(self.tokenizer.encode(step)) if step else []
            ids.append(self.step_token_id)
            positions.append(len(ids) - 1)
            text += step + self.step_token
        return PRMEncoding(text, ids, positions)
