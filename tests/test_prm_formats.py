"""load_prm on tiny replicas of the four published PRM formats.

Each test checks the verifier's step scores against a computation written
here from the format's public description (its model card or its authors'
inference code): the text rendered, the positions read, the probability.
The computation runs one solution at a time, unpadded; the verifier runs
every solution in one padded batch.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import AutoTokenizer, MistralForCausalLM, Qwen2ForCausalLM, Qwen2Model

from langgraph_ttc.types import ScoreResult, Verifier
from langgraph_ttc.verifiers import TransformersPRM, load_prm, supported_prm_formats
from langgraph_ttc.verifiers.prm_formats import (
    CheckpointInfo,
    get_prm_format,
    inspect_checkpoint,
    register_prm_format,
)
from langgraph_ttc.verifiers.prm_formats.local import LocalPRM
from tests.prm_replicas import (
    build_math_shepherd,
    build_qwen_prm,
    build_rlhflow,
    build_skywork,
)

QUESTION = "What is 2+3*4?"
SOLUTIONS = [
    "Step 1: 3*4=12\nStep 2: 2+12=14\nThe answer is 14",
    "2+3=5\n5*4=20\n#### 20",
    "",
    "  \n14",
]
STEPS = [["Step 1: 3*4=12", "Step 2: 2+12=14", "The answer is 14"], ["2+3=5", "5*4=20", "#### 20"]]
QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("prm-replicas")
    return {
        "math-shepherd": build_math_shepherd(root / "math-shepherd"),
        "rlhflow": build_rlhflow(root / "rlhflow"),
        "qwen-prm": build_qwen_prm(root / "qwen-prm"),
        "skywork": build_skywork(root / "skywork"),
    }


def _close(got: list[float], want: list[float]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert abs(g - w) < 1e-5, (got, want)
    # The replicas are built so that steps differ: a wrong position would show.
    assert max(want) - min(want) > 1e-3, want


def _scored(prm: Verifier) -> ScoreResult:
    result = prm.score(QUESTION, SOLUTIONS)
    assert result.steps[2] == [0.0]  # no step, no model call
    assert len(result.steps[3]) == 1
    return result


# ------------------------------------------------------------------ the formats


def test_math_shepherd_matches_the_model_card(replicas: dict[str, Path]) -> None:
    folder = replicas["math-shepherd"]
    prm = load_prm(folder)
    assert isinstance(prm, LocalPRM) and prm.format == "math-shepherd"
    result = _scored(prm)
    # The model card: f"{question} {output}", steps " ки\n"-joined, tokenizer.encode adds <s>.
    tok = AutoTokenizer.from_pretrained(folder)
    model = MistralForCausalLM.from_pretrained(folder).eval()
    candidate_tokens = tok.encode("+ -")[1:]
    step_tag_id = tok.encode("ки")[-1]
    assert tok.convert_ids_to_tokens([*candidate_tokens, step_tag_id]) == ["▁+", "▁-", "▁ки"]
    for steps, got in zip(STEPS, result.steps, strict=False):
        output = "".join(f"{s} ки\n" for s in steps).removesuffix("\n")
        input_id = torch.tensor([tok.encode(f"{QUESTION} {output}")])
        assert input_id[0, 0].item() == tok.bos_token_id
        with torch.no_grad():
            logits = model(input_id).logits[:, :, candidate_tokens]
            scores = logits.softmax(dim=-1)[:, :, 0]
        _close(got, scores[input_id == step_tag_id].tolist())


def test_rlhflow_matches_the_authors_evaluation(replicas: dict[str, Path]) -> None:
    folder = replicas["rlhflow"]
    prm = load_prm(folder)
    assert isinstance(prm, LocalPRM) and prm.format == "rlhflow"
    result = _scored(prm)
    # math-rm/prm_evaluate.py: one chat prefix per step, logits at -3, softmax over [+, -].
    tok = AutoTokenizer.from_pretrained(folder)
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(folder).eval()
    candidate_tokens = [tok.encode("+")[-1], tok.encode("-")[-1]]
    for steps, got in zip(STEPS, result.steps, strict=False):
        conversation: list[dict[str, str]] = []
        want = []
        for k, step in enumerate(s.strip() for s in steps):
            text = QUESTION + " " + step if k == 0 else step
            conversation.append({"content": text, "role": "user"})
            conversation.append({"content": "+", "role": "assistant"})
            rendered = tok.apply_chat_template(conversation, tokenize=False)
            assert rendered.count("<|begin_of_text|>") == 1
            assert rendered.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n+<|eot_id|>")
            # The authors' call (transformers 4 returned the ids; 5 needs return_dict=False).
            input_ids = tok.apply_chat_template(
                conversation, return_tensors="pt", return_dict=False
            )
            with torch.no_grad():
                logits = model(input_ids).logits[:, -3, candidate_tokens]
            want.append(logits.softmax(dim=-1)[0, 0].item())
        _close(got, want)


def test_qwen_prm_matches_the_model_card_without_remote_code(replicas: dict[str, Path]) -> None:
    folder = replicas["qwen-prm"]
    prm = load_prm(folder)
    assert isinstance(prm, LocalPRM) and prm.format == "qwen-prm"
    result = _scored(prm)
    # The model card's chat, rendered by hand; the head as modeling_qwen2_rm.py builds it.
    tok = AutoTokenizer.from_pretrained(folder)
    base = Qwen2Model.from_pretrained(folder).eval()
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        w0, b0 = f.get_tensor("score.0.weight"), f.get_tensor("score.0.bias")
        w2, b2 = f.get_tensor("score.2.weight"), f.get_tensor("score.2.bias")
    step_sep_id = tok.encode("<extra_0>")[0]
    for steps, got in zip(STEPS, result.steps, strict=False):
        text = (
            f"<|im_start|>system\n{QWEN_SYSTEM}<|im_end|>\n"
            f"<|im_start|>user\n{QUESTION}<|im_end|>\n"
            f"<|im_start|>assistant\n{'<extra_0>'.join(steps)}<extra_0><|im_end|>\n"
        )
        assert prm.encode(QUESTION, "\n".join(steps)).text == text
        input_ids = torch.tensor([tok.encode(text)])
        with torch.no_grad():
            hidden = base(input_ids).last_hidden_state[0]
            logits = torch.relu(hidden @ w0.T + b0) @ w2.T + b2
            probabilities = torch.softmax(logits, dim=-1)
        want = probabilities[input_ids[0] == step_sep_id][:, 1].tolist()
        _close(got, want)


def test_skywork_matches_prepare_input(replicas: dict[str, Path]) -> None:
    folder = replicas["skywork"]
    prm = load_prm(folder)
    assert isinstance(prm, LocalPRM) and prm.format == "skywork"
    result = _scored(prm)
    # io_utils.prepare_input (step_token "\n"), then PRM_MODEL: sigmoid(v_head(hidden[-1])).
    tok = AutoTokenizer.from_pretrained(folder)
    model = Qwen2ForCausalLM.from_pretrained(folder).eval()
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    w, b = state["v_head.summary.weight"], state["v_head.summary.bias"]
    for steps, got in zip(STEPS, result.steps, strict=False):
        response = "\n".join(steps)
        input_ids = tok.encode(tok.bos_token + QUESTION + "\n")
        flags = [0] * len(input_ids)
        step_token_id = tok.encode("\n")[-1]
        for step in response.split("\n"):
            step_ids = [*tok.encode(step), step_token_id]
            input_ids += step_ids
            flags += [0] * (len(step_ids) - 1) + [1]
        ids = torch.tensor([input_ids])
        with torch.no_grad():
            hidden = model(ids, output_hidden_states=True).hidden_states[-1][0]
            rewards = torch.sigmoid(hidden @ w.T + b).squeeze(-1)
        _close(got, [rewards[i].item() for i, f in enumerate(flags) if f == 1])


def test_bundled_prm_is_math_shepherd_read_by_transformers_prm() -> None:
    from langgraph_ttc.suite.modeling import bundled_model_path

    prm = load_prm(bundled_model_path("prm"))
    assert isinstance(prm, TransformersPRM)
    want = TransformersPRM(bundled_model_path("prm")).score(QUESTION, SOLUTIONS)
    assert prm.score(QUESTION, SOLUTIONS).steps == want.steps


# ------------------------------------------------------------------ the contract


def test_costs_and_batching(replicas: dict[str, Path]) -> None:
    prm = load_prm(replicas["qwen-prm"])
    assert isinstance(prm, LocalPRM)
    result = prm.score(QUESTION, SOLUTIONS)
    tokens = sum(len(prm.encode(QUESTION, s).input_ids) for s in SOLUTIONS if s.strip())
    assert result.tokens == tokens
    assert result.flops == 2.0 * prm.params * tokens
    one_by_one = [prm.score(QUESTION, [s]).steps[0] for s in SOLUTIONS]
    for a, b in zip(result.steps, one_by_one, strict=True):
        assert all(abs(x - y) < 1e-5 for x, y in zip(a, b, strict=True))


def test_one_forward_pass_per_call(replicas: dict[str, Path]) -> None:
    prm = load_prm(replicas["skywork"]).load()  # type: ignore[attr-defined]
    calls = []
    handle = prm._model.register_forward_hook(lambda *a: calls.append(1))
    try:
        prm.score(QUESTION, SOLUTIONS * 4)
    finally:
        handle.remove()
    assert calls == [1]


async def test_ascore_matches_score(replicas: dict[str, Path]) -> None:
    prm = load_prm(replicas["rlhflow"])
    assert (await prm.ascore(QUESTION, SOLUTIONS)).steps == prm.score(QUESTION, SOLUTIONS).steps


def test_step_delimiter_cuts_blank_line_steps(replicas: dict[str, Path]) -> None:
    prm = load_prm(replicas["qwen-prm"], step_delimiter="\n\n")
    assert isinstance(prm, LocalPRM)
    text = "a=1\nstill a\n\nb=2\n\n#### 2"
    assert prm.score(QUESTION, [text]).steps[0].__len__() == 3
    assert prm.encode(QUESTION, text).text.count("<extra_0>") == 3
    sky = load_prm(replicas["skywork"], step_delimiter="\n\n")
    assert isinstance(sky, LocalPRM)
    assert len(sky.score(QUESTION, [text]).steps[0]) == 3


def test_detection_and_forced_format(replicas: dict[str, Path]) -> None:
    assert supported_prm_formats()[:4] == ["qwen-prm", "skywork", "math-shepherd", "rlhflow"]
    for name, folder in replicas.items():
        prm = load_prm(folder, format=name)
        assert isinstance(prm, LocalPRM) and prm.format == name


# ------------------------------------------------------------------ bad input


def test_unknown_format_lists_the_supported_ones(replicas: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match=r"unknown PRM format 'nope'.*qwen-prm.*rlhflow"):
        load_prm(replicas["qwen-prm"], format="nope")


def test_unrecognised_model_lists_the_supported_ones(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(tmp_path)
    BertModel(
        BertConfig(
            vocab_size=2,
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=1,
            intermediate_size=8,
        )
    ).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"not a PRM of a known format.*BertModel.*math-shepherd"):
        load_prm(tmp_path)


def test_folder_without_a_model(tmp_path: Path, replicas: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match=r"no model here \(no config.json\)"):
        load_prm(tmp_path)
    shutil.copy(replicas["qwen-prm"] / "config.json", tmp_path / "config.json")
    with pytest.raises(ValueError, match="no model weights here"):
        load_prm(tmp_path)
    with pytest.raises(ValueError, match="not a model folder and not a hub id"):
        load_prm(tmp_path / "missing" / "deeper")
    with pytest.raises(ValueError, match="hub copy is not available"):
        load_prm("nobody/no-such-prm")


def test_tokenizer_without_the_step_token(replicas: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match=r"no step token '<extra_0>'"):
        load_prm(replicas["rlhflow"], format="qwen-prm")
    with pytest.raises(ValueError, match=r"no step tag token 'ки'"):
        load_prm(replicas["qwen-prm"], format="math-shepherd")
    with pytest.raises(ValueError, match="no chat template"):
        load_prm(replicas["math-shepherd"], format="rlhflow")


def test_head_weights_missing(replicas: dict[str, Path]) -> None:
    # The Skywork replica's tokenizer has <extra_0>, but its checkpoint no score head.
    with pytest.raises(ValueError, match=r"no score.0.weight.*weights: not a 'qwen-prm'"):
        load_prm(replicas["skywork"], format="qwen-prm")
    with pytest.raises(ValueError, match=r"no v_head.summary.weight"):
        load_prm(replicas["qwen-prm"], format="skywork")


def test_bad_options(replicas: dict[str, Path]) -> None:
    with pytest.raises(TypeError, match="takes no option"):
        load_prm(replicas["qwen-prm"], temperature=0.5)
    with pytest.raises(ValueError, match="step_delimiter"):
        load_prm(replicas["qwen-prm"], step_delimiter="")
    with pytest.raises(ValueError, match="batch_size"):
        load_prm(replicas["qwen-prm"], batch_size=0)


# ------------------------------------------------------------------ the registry


def test_register_a_format(replicas: dict[str, Path]) -> None:
    seen: list[CheckpointInfo] = []

    def detect(info: CheckpointInfo) -> bool:
        seen.append(info)
        return info.config.get("model_type") == "mistral"

    def build(info: CheckpointInfo, **options: object) -> Verifier:
        return TransformersPRM(info.folder, step_delimiter=str(options["step_delimiter"]))

    fmt = register_prm_format("test-mistral", detect, build, description="a test")
    try:
        assert get_prm_format("test-mistral") is fmt
        with pytest.raises(ValueError, match="already registered"):
            register_prm_format("test-mistral", detect, build)
        prm = load_prm(replicas["math-shepherd"], format="test-mistral")
        assert isinstance(prm, TransformersPRM)
        # Built-in formats are tried first: the Mistral replica is still math-shepherd.
        assert isinstance(load_prm(replicas["math-shepherd"]), LocalPRM)
        info = inspect_checkpoint(replicas["math-shepherd"])
        assert detect(info) and "lm_head.weight" in info.weight_names
    finally:
        from langgraph_ttc.verifiers.prm_formats import registry

        registry._FORMATS.pop("test-mistral", None)


# ------------------------------------------------------------------ end to end


class _Recording:
    """Wraps a verifier and records the solutions it was asked to score."""

    def __init__(self, inner: Verifier) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "prm")
        self.step_delimiter = getattr(inner, "step_delimiter", "\n")
        self.seen: list[str] = []

    def score(self, question: str, solutions: list[str]) -> ScoreResult:
        self.seen += solutions
        return self.inner.score(question, solutions)

    async def ascore(self, question: str, solutions: list[str]) -> ScoreResult:
        self.seen += solutions
        return await self.inner.ascore(question, solutions)


@pytest.mark.parametrize("fmt", ["math-shepherd", "rlhflow", "qwen-prm", "skywork"])
def test_beam_search_and_weighted_best_of_n_with_a_chat_policy(
    replicas: dict[str, Path], fmt: str
) -> None:
    from langgraph_ttc.state import TTCContext
    from langgraph_ttc.strategies import create_beam_search_graph, create_best_of_n_graph
    from langgraph_ttc.types import StrategyConfig
    from tests.fakes import ScriptedGenerator

    question = "34*7-95+84*4"
    prm = _Recording(load_prm(replicas[fmt], step_delimiter="\n\n"))
    gen = ScriptedGenerator(error_rate=0.3, delimiter="\n\n")
    graphs = [
        create_beam_search_graph(
            gen,
            verifier=prm,
            config=StrategyConfig("beam", n=4, beam_width=2, max_rounds=8),
            step_delimiter="\n\n",
        ),
        create_best_of_n_graph(
            gen,
            verifier=prm,
            config=StrategyConfig("best_of_n", n=4, selection="weighted"),
            step_delimiter="\n\n",
        ),
    ]
    for graph in graphs:
        out = graph.compile().invoke({"question": question}, context=TTCContext(seed=0))
        assert out["status"] == "done", out.get("error")
        assert out["answer"] is not None
        assert out["usage"]["verifier_tokens"] > 0
    # The PRM read chat-style solutions: several steps, one score each.
    multi = [s for s in prm.seen if "\n\n" in s]
    assert multi
    one = prm.inner.score(question, multi[:1]).steps[0]
    assert len(one) == multi[0].count("\n\n") + 1


def test_a_folder_with_the_bundled_tokenizer_but_no_training_record_reads_the_bundled_template(
    tiny_model_dir: Path,
) -> None:
    # The original Math-Shepherd tokenizer prepends a BOS; this project's adds none.
    prm = load_prm(tiny_model_dir)
    assert isinstance(prm, TransformersPRM)
    assert len(prm.score("3+4*2", ["4*2=8\n3+8=11\n#### 11"]).steps[0]) == 3
