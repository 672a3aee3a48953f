"""Token counters: exact tiktoken encodings loaded offline, local HF tokenizers, estimates.

The BPE ranks come from the ``bpe-openai`` wheel (gzip copies of OpenAI's published
``.tiktoken`` files). We check each against the SHA-256 tiktoken itself pins, so the counts
are tiktoken's own, and nothing ever touches the network.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import tiktoken

# From tiktoken_ext/openai_public.py (tiktoken 0.7+): pattern, specials and file hash.
_ENCODINGS: dict[str, tuple[str, dict[str, int], str]] = {
    "cl100k_base": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",  # noqa: E501
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}

ENCODING_NAMES = tuple(_ENCODINGS)


class TokenizerUnavailable(RuntimeError):
    """The requested encoding or tokenizer cannot be loaded from local files."""


class TokenCounter(Protocol):
    name: str
    estimated: bool

    def count_batch(self, texts: Sequence[str]) -> list[int]: ...


@lru_cache(maxsize=2)
def load_encoding(name: str) -> tiktoken.Encoding:
    """A tiktoken ``Encoding`` identical to ``tiktoken.get_encoding(name)``, built offline."""
    if name not in _ENCODINGS:
        raise TokenizerUnavailable(f"unknown encoding {name!r}")
    pat_str, special_tokens, expected_sha256 = _ENCODINGS[name]
    packed = resources.files("bpe_openai.data").joinpath(f"{name}.tiktoken.gz").read_bytes()
    raw = gzip.decompress(packed)
    if hashlib.sha256(raw).hexdigest() != expected_sha256:
        raise TokenizerUnavailable(f"{name} shipped by bpe-openai does not match tiktoken's hash")
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in raw.splitlines() if line)
    }
    return tiktoken.Encoding(
        name, pat_str=pat_str, mergeable_ranks=ranks, special_tokens=special_tokens
    )


def openai_encoding_name(model: str | None) -> str:
    """cl100k for the GPT-3.5/GPT-4 generation, o200k for everything since gpt-4o."""
    if model and (model.startswith("gpt-3.5") or model.startswith("gpt-35")):
        return "cl100k_base"
    if model and model.startswith("gpt-4") and not model.startswith(("gpt-4o", "gpt-4.1")):
        return "cl100k_base"
    return "o200k_base"


class TiktokenCounter:
    """Exact counts; ``encode_ordinary`` releases the GIL, so threads count in parallel."""

    def __init__(self, encoding_name: str, *, estimated: bool = False) -> None:
        self._encoding = load_encoding(encoding_name)
        self.name = encoding_name
        self.estimated = estimated

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        encode = self._encoding.encode_ordinary
        return [len(encode(text)) if text else 0 for text in texts]


class HFTokenizerCounter:
    """An open model's own tokenizer, read from ``<dir>/tokenizer.json``."""

    def __init__(self, directory: Path) -> None:
        from tokenizers import Tokenizer

        path = directory / "tokenizer.json"
        if not path.is_file():
            raise TokenizerUnavailable(f"no tokenizer.json in {directory}")
        self._tokenizer: Any = Tokenizer.from_file(str(path))
        self.name = str(directory)
        self.estimated = False

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]


def model_tokenizer_dir(root: Path | None, model: str | None) -> Path | None:
    """``<tokenizers_dir>/<model name without its org>/`` when it holds a ``tokenizer.json``:
    ``tokenizers_dir`` is a folder of per-model folders, never a tokenizer itself."""
    if root is None or model is None:
        return None
    candidate = root / model.split("/", 1)[-1]
    return candidate if (candidate / "tokenizer.json").is_file() else None


def counter_for(
    provider: str, model: str | None, tokenizer_dir: Path | None = None
) -> TokenCounter:
    """Exact for OpenAI models and for open models with a local tokenizer; else an estimate."""
    if provider == "openai":
        return TiktokenCounter(openai_encoding_name(model))
    if tokenizer_dir is not None:
        return HFTokenizerCounter(tokenizer_dir)
    return TiktokenCounter("o200k_base", estimated=True)
