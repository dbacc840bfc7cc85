"""The character-level tokenizer shared by the bundled models."""

from __future__ import annotations

import string

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from langgraph_ttc.formats import BAD_TOKEN, GOOD_TOKEN, REVISE_PROMPT, STEP_TAG

__all__ = [
    "BAD_TOKEN",
    "BOS",
    "CHAT_TEMPLATE",
    "EOS",
    "GOOD_TOKEN",
    "PAD",
    "REVISE_PROMPT",
    "STEP_TAG",
    "UNK",
    "build_tokenizer",
]

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"

# The chat template begins with the BOS token (llama.cpp needs it) and ends each
# assistant turn with EOS, so a continued prefix never carries a stray EOS.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}{{ m['content'] }}{{ eos_token }}"
    "{% else %}{{ m['content'] }}\n{% endif %}"
    "{% endfor %}"
)

_CHARS = string.digits + "+-*=#\n .?" + string.ascii_letters + ",:;!()/'\"_<>[]{}%&|^~`@$\\\t"


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Build the tokenizer: one token per character, plus the step tag."""
    vocab = {tok: i for i, tok in enumerate([PAD, BOS, EOS, UNK])}
    for ch in dict.fromkeys(_CHARS):
        vocab[ch] = len(vocab)
    vocab[STEP_TAG] = len(vocab)
    # BPE with no merges is a character model that tokenizers serialises natively.
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=PAD,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    fast.add_tokens([STEP_TAG])
    fast.chat_template = CHAT_TEMPLATE
    return fast
