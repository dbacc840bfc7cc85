"""The character-level tokenizer shared by the bundled models."""

from __future__ import annotations

import string

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
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


SPACE = "\u2581"
"""How the vocabulary writes a space (SentencePiece's ``▁``)."""


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Build the tokenizer: one token per character, plus the step tag.

    It is written in the form llama.cpp's ``convert_hf_to_gguf.py`` converts
    unchanged (a Llama-style BPE vocabulary): spaces are ``▁`` (a normalizer
    writes them, the decoder reads them back), byte fallback is on, and no
    BOS, EOS or space prefix is added (the chat template writes the BOS).
    """
    vocab = {tok: i for i, tok in enumerate([PAD, BOS, EOS, UNK])}
    for ch in dict.fromkeys(_CHARS):
        vocab[SPACE if ch == " " else ch] = len(vocab)
    vocab[STEP_TAG] = len(vocab)
    # BPE with no merges is a character model that tokenizers serialises natively.
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK, byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", SPACE)
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Sequence(
        [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=PAD,
        padding_side="left",
        clean_up_tokenization_spaces=False,
        add_bos_token=False,
        add_eos_token=False,
        add_prefix_space=False,
    )
    fast.add_tokens([STEP_TAG])
    fast.chat_template = CHAT_TEMPLATE
    return fast
