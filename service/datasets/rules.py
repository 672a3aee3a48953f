"""What each target accepts: one frozen rule set per provider, chosen by ``--provider``.

Sources are PROVIDERS.md §5–§6. Limits that depend on the model (context length, methods)
come in as arguments from the caller, who owns the catalog; the defaults here only apply
when the caller knows nothing better.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from service.datasets.records import FORMATS

RoleOrder = Literal["any", "alternating", "mistral", "system_first"]

ALL_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MISTRAL_TOOL_CALL_ID = re.compile(r"^[a-zA-Z0-9]{9}$")
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProviderRules:
    name: str
    formats: frozenset[str]
    roles: frozenset[str]
    role_order: RoleOrder
    min_examples: int
    max_examples: int | None
    max_file_bytes: int | None
    default_context_length: int
    methods: frozenset[str]
    over_context_is_error: bool
    last_message_must_be_assistant: bool = False
    max_system_messages: int | None = None
    tool_call_id_pattern: re.Pattern[str] | None = None
    tool_needs_description_and_parameters: bool = False
    extra_keys_are_errors: bool = False
    blank_lines_are_errors: bool = False
    max_images_per_example: int | None = None
    supports_weight: bool = True
    supports_parallel_tool_calls: bool = True
    supports_message_name: bool = True
    supports_multimodal: bool = True
    supports_untrained_turns: bool = True
    """An assistant message may carry ``weight: 0`` (not trained on)."""
    tool_responses_need_a_call: bool = False
    """Every tool message's ``tool_call_id`` names an earlier tool call."""

    def with_methods(self, methods: frozenset[str] | None) -> ProviderRules:
        return self if methods is None else replace(self, methods=methods)


RULES: dict[str, ProviderRules] = {
    "openai": ProviderRules(
        name="openai",
        formats=frozenset({"chat", "preference", "prompt_completion"}),
        roles=ALL_ROLES,
        role_order="any",
        min_examples=10,
        max_examples=None,
        max_file_bytes=512 * MIB,
        default_context_length=65_536,
        methods=frozenset({"supervised", "dpo"}),
        over_context_is_error=False,  # OpenAI truncates long examples (cookbook warning)
    ),
    "together": ProviderRules(
        name="together",
        formats=frozenset(FORMATS),
        roles=frozenset({"system", "user", "assistant", "tool"}),
        role_order="alternating",
        min_examples=1,
        max_examples=None,
        max_file_bytes=int(50.1 * 1024 * MIB),
        default_context_length=8_192,
        methods=frozenset({"supervised", "dpo"}),
        over_context_is_error=False,  # truncated to max_seq_length
        extra_keys_are_errors=True,  # 1.x check_file: "no extra columns"
        blank_lines_are_errors=True,  # json.loads("") fails in check_file
        max_images_per_example=10,
    ),
    "mistral": ProviderRules(
        name="mistral",
        formats=frozenset({"chat", "text"}),
        roles=frozenset({"system", "user", "assistant", "tool"}),
        role_order="mistral",
        min_examples=10,
        max_examples=10_000_000,
        max_file_bytes=512 * MIB,
        default_context_length=32_768,
        methods=frozenset({"supervised"}),
        over_context_is_error=False,
        last_message_must_be_assistant=True,
        max_system_messages=1,
        tool_call_id_pattern=MISTRAL_TOOL_CALL_ID,
        tool_needs_description_and_parameters=True,
        supports_parallel_tool_calls=False,
        supports_message_name=False,
        supports_multimodal=False,
    ),
    "fireworks": ProviderRules(
        name="fireworks",
        formats=frozenset({"chat", "prompt_completion", "preference"}),
        roles=frozenset({"system", "user", "assistant", "tool"}),
        role_order="system_first",
        min_examples=3,
        max_examples=3_000_000,
        max_file_bytes=None,  # above 150 MB the SDK switches to signed-URL uploads
        default_context_length=32_768,
        methods=frozenset({"supervised", "dpo"}),
        over_context_is_error=True,  # maxContextLength is a hard job limit
        supports_message_name=False,
    ),
    # Gemini supervised tuning (cloud.google.com/vertex-ai/generative-ai/docs/models/
    # gemini-supervised-tuning, read 2026-11-29): ≤131,072 input+output tokens per example and
    # ≤1M text examples for the 2.5 family, ≤1 GB JSONL; text only here (Vertex takes media as
    # gs:// fileData, not data URLs); too-long examples are dropped by Vertex, so an error here.
    "vertex": ProviderRules(
        name="vertex",
        formats=frozenset({"chat", "prompt_completion"}),
        roles=frozenset({"system", "developer", "user", "assistant", "tool"}),
        role_order="system_first",
        min_examples=1,
        max_examples=1_000_000,
        max_file_bytes=1024 * MIB,
        default_context_length=131_072,
        methods=frozenset({"supervised"}),
        over_context_is_error=True,
        last_message_must_be_assistant=True,
        max_system_messages=1,
        supports_parallel_tool_calls=False,
        supports_message_name=False,
        supports_multimodal=False,
        supports_untrained_turns=False,
        tool_responses_need_a_call=True,
    ),
    "local": ProviderRules(
        name="local",
        formats=frozenset(FORMATS),
        roles=frozenset({"system", "developer", "user", "assistant", "tool"}),
        role_order="any",
        min_examples=1,
        max_examples=None,
        max_file_bytes=None,
        default_context_length=4_096,
        methods=frozenset({"supervised", "dpo"}),
        over_context_is_error=False,  # the local trainer truncates to max_seq_length
    ),
}

PROVIDERS = tuple(RULES)

# Formats that need a training method the target must support.
FORMAT_METHOD = {
    "chat": "supervised",
    "prompt_completion": "supervised",
    "text": "supervised",
    "preference": "dpo",
}

CHAT_ONLY_PROVIDERS = frozenset({"openai"})
"""Providers whose every model in our catalog is a chat model: OpenAI's legacy prompt/completion
format trained only babbage-002 and davinci-002, which it no longer tunes."""


def format_mismatch(fmt: str | None, method: str, provider: str, model: str) -> str | None:
    """Why a file of lines in ``fmt`` cannot train a ``method`` job on ``provider``'s ``model``
    (the rest of a sentence that starts with the file's name), or None when it can: DPO trains
    on preference lines and nothing else, supervised training on anything but; a chat model
    trains on chat lines (a prompt/completion file is for completion models)."""
    if fmt is None:
        return None
    if (fmt == "preference") != (method == "dpo"):
        wanted = (
            "preference lines (input, preferred_output, non_preferred_output)"
            if method == "dpo"
            else "lines of a supervised format (messages"
            + ("" if provider in CHAT_ONLY_PROVIDERS else ", prompt/completion or text")
            + "); preference lines are for a job with method.type 'dpo'"
        )
        return f"holds {fmt} lines; a '{method}' job needs {wanted}."
    if method != "dpo" and fmt != "chat" and provider in CHAT_ONLY_PROVIDERS:
        return (
            f"holds {fmt} lines; {model} is a chat model and trains "
            'on chat lines ({"messages": [...]}) only.'
        )
    return None


_OPENAI_CONTEXT = (("gpt-3.5", 16_385), ("gpt-4o", 65_536), ("gpt-4.1", 65_536))


def rules_for(provider: str) -> ProviderRules:
    try:
        return RULES[provider]
    except KeyError:
        raise ValueError(
            f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}"
        ) from None


def default_context_length(provider: str, model: str | None) -> int:
    """The context to assume when the caller passes none (the catalog knows better)."""
    if provider == "openai" and model:
        for prefix, length in _OPENAI_CONTEXT:
            if model.startswith(prefix):
                return length
    return rules_for(provider).default_context_length
