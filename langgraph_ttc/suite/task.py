"""The bundled reasoning task: integer arithmetic, one operation per step.

A question is an expression such as ``34*7-95+84*4``. A solution does the
multiplications first, left to right, then the additions and subtractions
left to right, one ``a<op>b=c`` per line, and ends with ``#### <answer>``::

    34*7=238
    84*4=336
    238-95=143
    143+336=479
    #### 479
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

OPS = ("+", "-", "*")
DEFAULT_MAX_OPS = 6
DEFAULT_OPERANDS = (1, 30)
_ANSWER_RE = re.compile(r"####\s*(-?\d+)\s*$")
_QUESTION_RE = re.compile(r"^\d+(?:[+\-*]\d+)*$")
_MAX_ANSWER_DIGITS = 40


@dataclass(frozen=True)
class Problem:
    """A question, its answer and its number of operations."""

    question: str
    answer: int
    ops: int

    def to_dict(self) -> dict[str, object]:
        return {"question": self.question, "answer": str(self.answer), "ops": self.ops}


def _tokens(question: str) -> list[str]:
    if not isinstance(question, str):
        raise TypeError(f"question must be a str, got {type(question).__name__}")
    q = question.replace(" ", "")
    if not _QUESTION_RE.match(q):
        raise ValueError(f"question is not an integer expression of + - *: {question!r}")
    return re.findall(r"\d+|[+\-*]", q)


def solution_steps(question: str) -> list[tuple[int, str, int, int]]:
    """The reference steps of ``question`` as ``(a, op, b, result)`` tuples."""
    toks = _tokens(question)
    nums = [int(t) for t in toks[0::2]]
    ops = toks[1::2]
    steps: list[tuple[int, str, int, int]] = []
    # Multiplications first: fold each run of '*' into one value.
    terms: list[int] = [nums[0]]
    signs: list[str] = []
    for op, b in zip(ops, nums[1:], strict=True):
        if op == "*":
            a = terms[-1]
            terms[-1] = a * b
            steps.append((a, "*", b, a * b))
        else:
            signs.append(op)
            terms.append(b)
    acc = terms[0]
    for op, b in zip(signs, terms[1:], strict=True):
        res = acc + b if op == "+" else acc - b
        steps.append((acc, op, b, res))
        acc = res
    return steps


def evaluate(question: str) -> int:
    """The exact value of ``question``."""
    steps = solution_steps(question)
    return steps[-1][3] if steps else int(_tokens(question)[0])


def reference_solution(question: str) -> str:
    """The canonical step-by-step solution of ``question``.

    Raises:
        TypeError: If ``question`` is not a string.
        ValueError: If it is not an expression of the task.
    """
    lines = [f"{a}{op}{b}={c}" for a, op, b, c in solution_steps(question)]
    lines.append(f"#### {evaluate(question)}")
    return "\n".join(lines)


def extract_answer(text: object) -> str | None:
    """The final answer of a solution, as a canonical integer string.

    Reads the last line that starts with ``####``. Returns ``None`` for text
    with no such line, a malformed number, or a number too long to be an
    answer of this task; never raises on text.

    Raises:
        TypeError: If ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("####"):
            m = _ANSWER_RE.match(line)
            if not m or len(m.group(1).lstrip("-")) > _MAX_ANSWER_DIGITS:
                return None
            return str(int(m.group(1)))
    return None


def check(text_or_answer: object, question: object) -> bool:
    """Whether a solution (or a bare answer) is right for ``question``.

    A bare integer (``479``, ``"479"``) is compared directly; any other text
    must end with a ``#### <answer>`` line. Garbage gives ``False``.

    Raises:
        TypeError: If ``question`` is not a string, or the answer is neither
            a string nor an int.
    """
    if not isinstance(question, str):
        raise TypeError(f"question must be a str, got {type(question).__name__}")
    if isinstance(text_or_answer, bool) or not isinstance(text_or_answer, str | int):
        raise TypeError(f"text_or_answer must be a str or int, got {type(text_or_answer).__name__}")
    try:
        truth = evaluate(question)
    except ValueError:
        return False
    if isinstance(text_or_answer, int):
        return text_or_answer == truth
    bare = text_or_answer.strip()
    if re.fullmatch(r"-?\d{1,40}", bare):
        return int(bare) == truth
    answer = extract_answer(text_or_answer)
    return answer is not None and int(answer) == truth


TASK_DESCRIPTION = (
    f"integer expressions of + - * with 1 to {DEFAULT_MAX_OPS} operations "
    f"and operands {DEFAULT_OPERANDS[0]} to {DEFAULT_OPERANDS[1]}, such as 17*3+25-4*6"
)
"""What the bundled models answer, in words (used in refusals)."""

OWN_MODEL_HINT = (
    "to ask anything else, bring your own model "
    "(ttc solve --model PATH_OR_ID or --endpoint URL --endpoint-model NAME; "
    "ChatTTC(generator=...); create_ttc_graph(your_generator))"
)
"""How to run on your own model: the default end of a refusal."""

_TASK_CHARS = frozenset("0123456789+-*")
_BLANKS = (" ", "\t")


def _out_of_task_reason(compact: str) -> str | None:
    """Why a question (blanks removed) is not a question of the task; ``None`` if it is."""
    if not compact:
        return "it is empty"
    odd = next((ch for ch in compact if ch not in _TASK_CHARS), None)
    if odd is not None:
        what = repr(odd) if odd.isascii() else f"{odd!r} (U+{ord(odd):04X})"
        return f"it contains {what}, which is not an ASCII digit or one of + - *"
    if compact[0] in OPS:
        return "it starts with an operator"
    if compact[-1] in OPS:
        return "it ends with an operator"
    doubled = re.search(r"[+\-*]{2,}", compact)
    if doubled:
        return f"it has operators in a row ({doubled.group(0)!r})"
    operands = re.findall(r"\d+", compact)
    ops = len(operands) - 1
    lo, hi = DEFAULT_OPERANDS
    for operand in operands:
        if len(operand) > 1 and operand[0] == "0":
            return f"operand {operand!r} has a leading zero"
        if not lo <= int(operand) <= hi:
            return f"operand {int(operand)} is outside {lo} to {hi}"
    if not 1 <= ops <= DEFAULT_MAX_OPS:
        return f"it has {ops} operations"
    return None


def check_question_in_task(question: object, *, hint: str = OWN_MODEL_HINT) -> str:
    """Check that ``question`` is a question the bundled models answer; return its canonical form.

    The bundled models were trained on one grammar only: ``a op b op c ...``
    with ``op`` one of ``+ - *``, 1 to 6 operations, and operands 1 to 30
    written in ASCII digits with no leading zero. Spaces and tabs are
    ignored (leading and trailing whitespace of any kind too), so
    ``" 12 + 7*3 "`` is accepted and returned as ``"12+7*3"``, the form the
    models were trained on. Anything else (another operator, a bracket, a
    fraction, a negative or out-of-range operand, a non-ASCII digit, text,
    a line break inside) is refused. Call this where the bundled models are
    chosen as the default; with your own model any question goes.

    Args:
        question: The question as the user wrote it.
        hint: How to bring your own model, for the end of the message (the
            CLI names its options, the Python API its arguments).

    Returns:
        The question with its blanks removed.

    Raises:
        TypeError: If ``question`` is not a string.
        ValueError: If the bundled models cannot answer it: one line that
            names the problem, what the bundled models answer, and ``hint``.
    """
    if not isinstance(question, str):
        raise TypeError(f"question must be a str, got {type(question).__name__}")
    compact = question.strip()
    for blank in _BLANKS:
        compact = compact.replace(blank, "")
    reason = _out_of_task_reason(compact)
    if reason is not None:
        shown = question if len(question) <= 60 else question[:57] + "..."
        raise ValueError(
            f"the bundled models cannot answer {shown!r}: {reason}; "
            f"they answer only {TASK_DESCRIPTION}; {hint}"
        )
    return compact


def _validate(n: int, ops: int | Sequence[int], operands: tuple[int, int]) -> list[int]:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    op_counts = [ops] if isinstance(ops, int) else list(ops)
    if not op_counts or any(
        isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in op_counts
    ):
        raise ValueError(f"ops must be a positive int or a non-empty list of them, got {ops!r}")
    lo, hi = operands
    if lo < 0 or hi < lo:
        raise ValueError(f"operands must be a range (lo, hi) with 0 <= lo <= hi, got {operands!r}")
    return op_counts


def generate_problems(
    n: int,
    *,
    ops: int | Sequence[int] = tuple(range(1, DEFAULT_MAX_OPS + 1)),
    operands: tuple[int, int] = DEFAULT_OPERANDS,
    seed: int = 0,
) -> list[Problem]:
    """Draw ``n`` random problems, spread evenly over the operation counts.

    Args:
        n: How many problems.
        ops: One operation count, or several to cycle through.
        operands: Inclusive operand range.
        seed: The same seed gives the same problems.

    Raises:
        ValueError: For n < 0, ops < 1 or an empty operand range.
    """
    op_counts = _validate(n, ops, operands)
    rng = random.Random(seed)
    out: list[Problem] = []
    for i in range(n):
        k = op_counts[i % len(op_counts)]
        nums = [rng.randint(*operands) for _ in range(k + 1)]
        signs = [rng.choice(OPS) for _ in range(k)]
        q = str(nums[0]) + "".join(f"{s}{b}" for s, b in zip(signs, nums[1:], strict=True))
        out.append(Problem(q, evaluate(q), k))
    return out


SPLITS = ("train", "validation", "test")


def split_of(question: str) -> str:
    """The split a question belongs to: a fixed hash, so splits never overlap.

    About 10% of questions are validation, 10% test, the rest train.
    """
    h = int.from_bytes(hashlib.sha256(question.encode()).digest()[:4], "big") % 100
    return "validation" if h < 10 else "test" if h < 20 else "train"


def load_split(
    split: str,
    n: int,
    *,
    ops: int | Sequence[int] = tuple(range(1, DEFAULT_MAX_OPS + 1)),
    operands: tuple[int, int] = DEFAULT_OPERANDS,
    seed: int = 0,
    distinct: bool = True,
) -> list[Problem]:
    """``n`` problems of one split, spread evenly over the operation counts.

    Deterministic for a seed. Training data may repeat a question
    (``distinct=False``): short questions are few, about 2,700 with one
    operation and operands 1 to 30.

    Raises:
        ValueError: For an unknown split, impossible arguments, or more
            distinct questions than the split holds.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    op_counts = _validate(n, ops, operands)
    # Each split draws from its own seed stream and keeps only its own hashes.
    salt = {"train": 0, "validation": 1_000_003, "test": 2_000_029}[split]
    rng = random.Random(seed * 7_919 + salt)
    lo, hi = operands
    out: list[Problem] = []
    seen: set[str] = set()
    for i, k in enumerate(op_counts[j % len(op_counts)] for j in range(n)):
        for _ in range(20_000):
            nums = [rng.randint(lo, hi) for _ in range(k + 1)]
            signs = [rng.choice(OPS) for _ in range(k)]
            q = str(nums[0]) + "".join(f"{s}{b}" for s, b in zip(signs, nums[1:], strict=True))
            if split_of(q) == split and (not distinct or q not in seen):
                break
        else:
            raise ValueError(
                f"cannot draw {n} distinct {split} problems with ops={ops!r}, "
                f"operands={operands!r} "
                f"(stuck at problem {i}); ask for fewer or pass distinct=False"
            )
        seen.add(q)
        out.append(Problem(q, evaluate(q), k))
    return out
