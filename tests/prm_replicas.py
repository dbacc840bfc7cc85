"""Tiny replicas of the published PRMs, for tests: each format's exact architecture and tokens.

Each builder writes a folder that loads like the real checkpoint: the same
``config.json`` architecture (and ``auto_map`` where the real one has remote
code), the same weight names (the head included), a real tokenizer built
with the ``tokenizers`` library with the format's special tokens, BOS
behaviour and chat template, and random weights (a few thousand
parameters, drawn with a large spread so scores differ from step to step).

- :func:`build_math_shepherd`: ``MistralForCausalLM``, a SentencePiece-style
  (``▁``) tokenizer that adds ``<s>``, with ``▁ки``, ``▁+`` and ``▁-`` tokens.
- :func:`build_rlhflow`: ``LlamaForCausalLM``, a byte-level Llama-3 tokenizer
  (``<|begin_of_text|>``, header and ``<|eot_id|>`` tokens) and Llama 3.1's
  chat template (the date header, ``content | trim``).
- :func:`build_qwen_prm`: ``Qwen2ForProcessRewardModel`` weights (``model.*``
  and the ``score.0``/``score.2`` head), a Qwen2 byte-level tokenizer with
  ``<|im_start|>``, ``<|im_end|>`` and ``<extra_0>``, ChatML template.
- :func:`build_skywork`: ``Qwen2ForPrmModel`` (a ``Qwen2ForCausalLM`` plus
  ``v_head.summary``) saved as ``pytorch_model.bin`` like Skywork's release,
  with ``<|endoftext|>`` as BOS.
- :func:`build_chat_policy`: a tiny Qwen2 causal LM on the Qwen tokenizer,
  for end-to-end runs with a ``"\\n\\n"``-delimited policy.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers
from tokenizers.processors import TemplateProcessing
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2Model,
)

__all__ = [
    "LLAMA3_CHAT_TEMPLATE",
    "QWEN_CHAT_TEMPLATE",
    "PoolingReplica",
    "build_chat_policy",
    "build_math_shepherd",
    "build_qwen_prm",
    "build_rlhflow",
    "build_skywork",
    "serve_asgi",
    "serve_http",
]

TINY = {
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": 512,
    "tie_word_embeddings": False,
}

# Llama 3.1's template, as far as a chat of user and assistant turns reaches.
LLAMA3_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}"
    "{{- 'Cutting Knowledge Date: December 2023\\n' }}"
    "{{- 'Today Date: 26 Jul 2024\\n\\n' }}"
    "{{- '<|eot_id|>' }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)

# Qwen2.5's ChatML template for plain turns (its default system prompt included).
QWEN_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _spread(model: torch.nn.Module, seed: int, std: float = 0.5) -> None:
    """Redraw every weight with a wide spread, so outputs differ clearly by position."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)


def _byte_level(
    specials: list[str], *, bos: str | None, merges: list[tuple[str, str]]
) -> Tokenizer:
    """A GPT-2 style byte-level BPE (as Qwen2 and Llama 3 use) with ``specials`` first."""
    vocab: dict[str, int] = {}
    for s in specials:
        vocab[s] = len(vocab)
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if bos is not None:
        tok.post_processor = TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])]
        )
    return tok


def _save_tokenizer(tok: PreTrainedTokenizerFast, folder: Path) -> PreTrainedTokenizerFast:
    tok.save_pretrained(folder)
    return tok


def math_shepherd_tokenizer() -> PreTrainedTokenizerFast:
    """Mistral-style: ``▁`` for spaces, ``<s>`` added, ``ки`` merged to ``▁ки``."""
    chars = "▁" + "".join(chr(c) for c in range(32, 127) if chr(c) != " ") + "\nки"
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    merges = [("к", "и"), ("▁", "ки"), ("▁", "+"), ("▁", "-")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tok.add_special_tokens([AddedToken(s, special=True) for s in ("<unk>", "<s>", "</s>")])
    tok.post_processor = TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


def llama3_tokenizer() -> PreTrainedTokenizerFast:
    """Llama-3 style: byte-level, ``<|begin_of_text|>`` added, Llama 3.1's chat template."""
    specials = [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
    ]
    tok = _byte_level(specials, bos="<|begin_of_text|>", merges=[("Ċ", "Ċ")])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>"
    )
    fast.chat_template = LLAMA3_CHAT_TEMPLATE
    return fast


def qwen_tokenizer(*, bos: str | None = None) -> PreTrainedTokenizerFast:
    """Qwen2 style: byte-level, no BOS added, ChatML, ``<extra_0>`` a token of its own."""
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<extra_0>"]
    tok = _byte_level(specials, bos=None, merges=[("Ċ", "Ċ")])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=bos,
    )
    fast.chat_template = QWEN_CHAT_TEMPLATE
    return fast


def build_math_shepherd(folder: Path, *, seed: int = 0) -> Path:
    """A Math-Shepherd replica (``MistralForCausalLM``) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = _save_tokenizer(math_shepherd_tokenizer(), folder)
    config = MistralConfig(
        vocab_size=len(tok), bos_token_id=1, eos_token_id=2, sliding_window=None, **TINY
    )
    model = MistralForCausalLM(config)
    _spread(model, seed)
    model.save_pretrained(folder)
    return folder


def build_rlhflow(folder: Path, *, seed: int = 0) -> Path:
    """An RLHFlow Llama3.1-8B-PRM replica (``LlamaForCausalLM``) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = _save_tokenizer(llama3_tokenizer(), folder)
    config = LlamaConfig(
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        **TINY,
    )
    model = LlamaForCausalLM(config)
    _spread(model, seed)
    model.save_pretrained(folder)
    return folder


def _qwen_config(vocab: int, **extra: object) -> Qwen2Config:
    return Qwen2Config(vocab_size=vocab, bos_token_id=0, eos_token_id=2, **TINY, **extra)


def build_qwen_prm(folder: Path, *, seed: int = 0) -> Path:
    """A Qwen2.5-Math-PRM replica: ``model.*`` plus the ``score`` MLP head, 2 labels."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tok = _save_tokenizer(qwen_tokenizer(), folder)
    config = _qwen_config(len(tok), num_labels=2)
    base = Qwen2Model(config)
    _spread(base, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    h = config.hidden_size
    state = {f"model.{k}": v.contiguous() for k, v in base.state_dict().items()}
    for name, shape in (
        ("score.0.weight", (h, h)),
        ("score.0.bias", (h,)),
        ("score.2.weight", (2, h)),
        ("score.2.bias", (2,)),
    ):
        state[name] = torch.randn(shape, generator=gen) * 0.5
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config.architectures = ["Qwen2ForProcessRewardModel"]
    config.auto_map = {
        "AutoConfig": "configuration_qwen2_rm.Qwen2RMConfig",
        "AutoModel": "modeling_qwen2_rm.Qwen2ForProcessRewardModel",
    }
    config.save_pretrained(folder)
    return folder


def build_skywork(folder: Path, *, seed: int = 0) -> Path:
    """A Skywork-o1-Open-PRM replica: ``Qwen2ForCausalLM`` plus ``v_head.summary``, as ``.bin``."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = _save_tokenizer(qwen_tokenizer(bos="<|endoftext|>"), folder)
    config = _qwen_config(len(tok))
    model = Qwen2ForCausalLM(config)
    _spread(model, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    state["v_head.summary.weight"] = torch.randn((1, config.hidden_size), generator=gen) * 0.5
    state["v_head.summary.bias"] = torch.randn((1,), generator=gen) * 0.5
    torch.save(state, folder / "pytorch_model.bin")
    config.architectures = ["Qwen2ForPrmModel"]
    config.save_pretrained(folder)
    return folder


def build_chat_policy(folder: Path, *, seed: int = 0) -> Path:
    """A tiny Qwen2 chat policy on the Qwen tokenizer (random: its text is noise)."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = _save_tokenizer(qwen_tokenizer(), folder)
    model = Qwen2ForCausalLM(_qwen_config(len(tok)))
    _spread(model, seed, std=0.2)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(folder)
    return folder


# ---------------------------------------------------------------- vLLM's pooling endpoint


class PoolingReplica:
    """vLLM's ``POST /pooling`` for one replica PRM, by vLLM's published schema.

    The request is a ``PoolingCompletionRequest`` with token-id ``input``
    (vllm/entrypoints/pooling/pooling/protocol.py); the pooler is vLLM's
    tokenwise one (model_executor/layers/pooler/tokwise): the per-token head
    output, ``returned_token_ids`` columns kept, rows where the prompt token
    is ``step_tag_id`` kept (``STEP``), then softmax for a 2-class
    ``token_classify`` head; Skywork's value head (its vLLM plugin) returns
    the raw value per token (``ALL``). The response is a ``PoolingResponse``
    serialised as FastAPI's ``JSONResponse`` does (compact separators), field
    order as the pydantic models declare it. Every sequence runs on its own,
    unpadded, as vLLM runs them.

    Real vLLM cannot run here (no GPU, no CPU wheel for this box), so tests
    use this replica; ``faults`` (``"429"``, ``"500"``, ``"rows"``: one row
    too few, ``"items"``: one result too few) apply to the next requests in order.
    """

    def __init__(
        self, folder: Path, *, kind: str, pooler_config: dict[str, object], model: str = "prm"
    ) -> None:
        from transformers import AutoModel, AutoModelForCausalLM

        self.kind, self.model_name, self.config = kind, model, pooler_config
        self.faults: list[str] = []
        self.requests: list[dict[str, object]] = []
        if kind == "lm":
            self.model = AutoModelForCausalLM.from_pretrained(folder).eval()
        else:
            self.model = AutoModel.from_pretrained(folder).eval()
            if kind == "classifier":
                from safetensors.torch import load_file

                w = load_file(str(folder / "model.safetensors"))
                self.head = lambda h: (
                    torch.relu(h @ w["score.0.weight"].T + w["score.0.bias"])
                    @ w["score.2.weight"].T
                    + w["score.2.bias"]
                )
            else:
                s = torch.load(folder / "pytorch_model.bin", weights_only=True)
                self.head = lambda h: h @ s["v_head.summary.weight"].T + s["v_head.summary.bias"]

    def _rows(self, ids: list[int]) -> list[list[float]]:
        with torch.no_grad():
            x = torch.tensor([ids])
            if self.kind == "lm":
                out = self.model(x).logits[0]
            else:
                out = self.head(self.model(x).last_hidden_state[0])
        returned = self.config.get("returned_token_ids")
        if returned:
            out = out[:, list(returned)]  # type: ignore[call-overload]
        tag = self.config.get("step_tag_id")
        if self.config.get("pooling_type") == "STEP" and tag is not None:
            out = out[torch.tensor(ids) == tag]
        if self.kind != "value":
            out = torch.softmax(out, dim=-1)
        return [[float(v) for v in row] for row in out.tolist()]

    def handle(
        self, body: dict[str, object], *, api: str = "pooling"
    ) -> tuple[int, dict[str, object]]:
        """The status and JSON body vLLM would answer ``body`` with (``api``: the route)."""
        import time
        import uuid

        self.requests.append(body)
        fault = self.faults.pop(0) if self.faults else "pass"
        if fault in ("429", "500"):
            kind = "RateLimitError" if fault == "429" else "InternalServerError"
            err = {"message": f"injected {fault}", "type": kind, "param": None, "code": int(fault)}
            return int(fault), {"error": err}
        inputs = body.get("input")
        if inputs and isinstance(inputs, list) and isinstance(inputs[0], int):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(
            isinstance(i, list) and i and all(isinstance(t, int) for t in i) for i in inputs
        ):
            err = {
                "message": "input must be token ids",
                "type": "BadRequestError",
                "param": "input",
                "code": 400,
            }
            return 400, {"error": err}
        data = []
        for index, ids in enumerate(inputs):
            rows = self._rows(ids)
            if fault == "rows":
                rows = rows[:-1]
            if api == "pooling":
                data.append({"index": index, "object": "pooling", "data": rows})
            else:  # vLLM 0.6's /v1/embeddings: one embedding per input, a value per token
                data.append({"index": index, "object": "embedding", "embedding": rows})
        if fault == "items":
            data = data[:-1]
        n = sum(len(i) for i in inputs)
        return 200, {
            "id": f"pool-{uuid.uuid4().hex}",
            "object": "list",
            "created": int(time.time()),
            "model": body.get("model") or self.model_name,
            "data": data,
            "usage": {
                "prompt_tokens": n,
                "total_tokens": n,
                "completion_tokens": 0,
                "prompt_tokens_details": None,
            },
        }

    def render(self, body: bytes, *, api: str = "pooling") -> tuple[int, bytes]:
        """``handle`` on raw bytes, rendered as Starlette's ``JSONResponse``."""
        import json

        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            err = {"message": "invalid JSON", "type": "BadRequestError", "param": None, "code": 400}
            status, payload = 400, {"error": err}
        else:
            status, payload = self.handle(parsed, api=api)
        text = json.dumps(
            payload, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        )
        return status, text.encode("utf-8")

    async def __call__(self, scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        """An ASGI app: ``POST /pooling`` (404 elsewhere), for uvicorn."""
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        routes = {"/pooling": "pooling", "/v1/embeddings": "embeddings"}
        if scope["method"] == "POST" and scope["path"] in routes:
            status, payload = self.render(b"".join(chunks), api=routes[scope["path"]])
        else:
            status, payload = 404, b'{"detail":"Not Found"}'
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if status == 429:
            headers.append((b"retry-after", b"0"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


@contextlib.contextmanager
def serve_http(replica: PoolingReplica) -> Iterator[str]:
    """Serve ``replica`` with the standard library's HTTP server; yields its base URL."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            routes = {"/pooling": "pooling", "/v1/embeddings": "embeddings"}
            if self.path not in routes:
                status, payload = 404, b'{"detail":"Not Found"}'
            else:
                status, payload = replica.render(body, api=routes[self.path])
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            if status == 429:
                self.send_header("retry-after", "0")
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def serve_asgi(replica: PoolingReplica) -> Iterator[int]:
    """Serve ``replica`` with uvicorn (vLLM's server) on 127.0.0.1; yields the port."""
    import socket
    import time

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(replica, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
