"""Per-row sampling for ``TransformersGenerator``: a row's draw depends on its own seed only.

``model.generate(do_sample=True)`` draws every row of a batch from one torch
RNG, so a request's samples would change with whatever shares its batch.
Here each row (one sample of one request) draws from its own counter-based
stream instead: at decoding step ``t`` its uniform number is a hash of
``(row key, t)``, where the row key is a hash of the request's seed and the
sample's index. :class:`RowSampler` is a logits processor run with
``do_sample=False``: per row it applies the temperature, the model's top-k
and the request's top-p, picks the token by inverse-CDF sampling with that
uniform number, and leaves only that token finite, so that generate's argmax
takes it. Greedy rows (temperature 0) take the argmax of the logits.

One uniform number per row and step (not one per vocabulary entry, as
Gumbel-max sampling needs) keeps the cost at a softmax and a cumulative sum
per row, small beside the forward pass even for a 150k vocabulary; the hash
runs on the device in 32-bit lanes of int64 (no overflow), so CPU and CUDA
draw the same numbers. Which tokens a row may draw (the nucleus) and in
which order the CDF runs depend only on the row's own settings.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["RowSampler", "row_key", "row_uniforms"]

_M32 = 0xFFFFFFFF


def row_key(seed: int, sample: int) -> int:
    """The 32-bit key of sample ``sample`` of a request seeded ``seed`` (a stable hash)."""
    digest = hashlib.blake2b(f"{seed}:{sample}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``x * c mod 2**32`` for ``x`` in [0, 2**32) held in int64, without overflow."""
    hi = ((x >> 16) * c) & 0xFFFF
    return ((hi << 16) + (x & 0xFFFF) * c) & _M32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit finaliser (Wellons' ``lowbias32``): every input bit moves every output bit."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def row_uniforms(keys: torch.Tensor, step: int) -> torch.Tensor:
    """Uniform numbers in (0, 1), float64, one per row key, for decoding step ``step``.

    A pure function of ``(key, step)``: the same on every device and in any batch.
    """
    x = _mix32((keys + ((step + 1) * 0x9E3779B9 & _M32)) & _M32)
    y = _mix32(((keys ^ 0x5BD1E995) + ((step + 1) * 0x85EBCA6B & _M32)) & _M32)
    bits = (x << 21) + (y >> 11)  # 53 bits from two mixes
    return (bits.double() + 0.5) / float(1 << 53)


class RowSampler:
    """A logits processor that samples each row from its own stream (see the module).

    Args:
        keys: One :func:`row_key` per row of the batch, in row order.
        temperatures: One per row; 0 means greedy.
        top_ps: One per row, in (0, 1].
        top_k: The model's top-k (0: off), for every sampled row.
        prompt_width: The padded prompt length: step ``t`` sees ``prompt_width + t`` ids.
        device: Where the batch runs.
    """

    def __init__(
        self,
        keys: list[int],
        temperatures: list[float],
        top_ps: list[float],
        *,
        top_k: int,
        prompt_width: int,
        device: torch.device,
    ) -> None:
        import torch

        self.keys = torch.tensor(keys, dtype=torch.int64, device=device)
        self.temperatures = torch.tensor(temperatures, dtype=torch.float32, device=device)
        self.top_ps = torch.tensor(top_ps, dtype=torch.float64, device=device)
        self.sampled = [i for i, t in enumerate(temperatures) if t > 0]
        self.nucleus = [i for i in self.sampled if top_ps[i] < 1.0 or top_k > 0]
        self.plain = [i for i in self.sampled if not (top_ps[i] < 1.0 or top_k > 0)]
        self.top_k = top_k
        self.prompt_width = prompt_width
        # Made once: a step then copies nothing from the host (CUDA stays asynchronous).
        self._plain_idx = torch.tensor(self.plain, dtype=torch.long, device=device)
        self._nucleus_idx = torch.tensor(self.nucleus, dtype=torch.long, device=device)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Scores where only each row's chosen token is finite (generate then takes it)."""
        import torch

        step = input_ids.shape[1] - self.prompt_width
        chosen = scores.argmax(dim=-1)
        if self.sampled:
            u = row_uniforms(self.keys, step)
            if self.plain:
                idx = self._plain_idx
                chosen[idx] = self._draw_plain(scores[idx], idx, u[idx])
            if self.nucleus:
                idx = self._nucleus_idx
                chosen[idx] = self._draw_nucleus(scores[idx], idx, u[idx])
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, chosen[:, None], 0.0)
        return out  # type: ignore[return-value]

    def _probs(self, scores: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        t = self.temperatures[idx][:, None]
        return _softmax64(scores.float() / t)

    def _draw_plain(self, scores: torch.Tensor, idx: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Inverse CDF in vocabulary order."""
        import torch

        cdf = self._probs(scores, idx).cumsum(dim=-1)
        target = (u * cdf[:, -1])[:, None].contiguous()
        return torch.searchsorted(cdf, target, right=True)[:, 0].clamp_max(cdf.shape[1] - 1)

    def _draw_nucleus(
        self, scores: torch.Tensor, idx: torch.Tensor, u: torch.Tensor
    ) -> torch.Tensor:
        """Inverse CDF over the top-k and top-p nucleus, most likely token first."""
        import torch

        probs = self._probs(scores, idx)
        sorted_p, order = probs.sort(dim=-1, descending=True, stable=True)
        if self.top_k > 0:
            sorted_p[:, self.top_k :] = 0.0
        # Keep a token while the mass before it is under top_p (the first always).
        before = sorted_p.cumsum(dim=-1) - sorted_p
        sorted_p = torch.where(before < self.top_ps[idx][:, None], sorted_p, 0.0)
        cdf = sorted_p.cumsum(dim=-1)
        target = (u * cdf[:, -1])[:, None].contiguous()
        pos = torch.searchsorted(cdf, target, right=True).clamp_max(cdf.shape[1] - 1)
        return order.gather(1, pos)[:, 0]


def _softmax64(x: torch.Tensor) -> torch.Tensor:
    """Softmax in float64: the CDF's sums must not round a likely token away."""
    return x.double().softmax(dim=-1)
