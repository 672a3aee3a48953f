"""Per-line checks: one JSON object in, issues out, plus the texts to count tokens of.

Codes are stable API: clients match on them. Each check cites its origin in PROVIDERS.md §6
(A = OpenAI cookbook, B = Together 1.x ``check_file``, C = mistral-finetune/mistral-common).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from service.datasets.records import detect_format
from service.datasets.rules import ALL_ROLES, FORMAT_METHOD, ProviderRules
from service.json_depth import TOO_DEEP, too_deep

PROMPT, TRAINABLE, UNTRAINED = 0, 1, 2

_MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call", "refusal"}
)
_LEGACY_MESSAGE_KEYS = frozenset({"function_call", "refusal"})
_TOP_KEYS = {
    "chat": frozenset({"messages", "tools", "parallel_tool_calls", "functions"}),
    "preference": frozenset({"input", "preferred_output", "non_preferred_output"}),
    "prompt_completion": frozenset({"prompt", "completion"}),
    "text": frozenset({"text"}),
}
_MISTRAL_EXTRA_KEYS = frozenset({"available_tools", "only_last"})
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_MISTRAL_NEXT = {
    "system": frozenset({"user", "assistant", "system"}),
    "user": frozenset({"assistant", "system", "user"}),
    "assistant": frozenset({"assistant", "user", "tool"}),
    "tool": frozenset({"assistant", "tool"}),
}
_MAX_IMAGE_B64 = 10 * 1024 * 1024 * 4 // 3
_SCHEMA_CACHE_LIMIT = 256


class Sink(Protocol):
    def __call__(self, line: int, code: str, message: str) -> None: ...


@dataclass(slots=True)
class Example:
    """What token counting needs from one valid line."""

    format: str
    overhead: int
    messages: int
    texts: list[str] = field(default_factory=list)
    kinds: list[int] = field(default_factory=list)

    def add(self, text: str, kind: int) -> None:
        self.texts.append(text)
        self.kinds.append(kind)


class PlainMessage(msgspec.Struct, forbid_unknown_fields=True):
    role: str
    content: str


class PlainChat(msgspec.Struct, forbid_unknown_fields=True):
    """The common chat line, decoded straight into types: {"messages": [PlainMessage]}."""

    messages: list[PlainMessage]


# check_plain_chat's answer for a line that needs the general walk
NOT_PLAIN = Example("", 0, 0)


class LineChecker:
    def __init__(
        self,
        rules: ProviderRules,
        error: Sink,
        warning: Sink,
        role_tokens: dict[str, int],
        *,
        collect_texts: bool = True,
    ) -> None:
        self.rules = rules
        self._error = error
        self.warning = warning
        self.role_tokens = role_tokens
        self.collect_texts = collect_texts  # False: nobody counts tokens, skip gathering texts
        self._failed = False
        self._schema_ok: dict[str, str | None] = {}
        extra = _MISTRAL_EXTRA_KEYS if rules.name == "mistral" else frozenset()
        self._top_keys = {fmt: keys | extra for fmt, keys in _TOP_KEYS.items()}
        # Roles for which a message of exactly {"role", "content": str} has nothing to check
        # but an empty assistant reply ("tool" needs its tool_call_id looked at).
        self._plain_roles = (rules.roles & ALL_ROLES) - {"tool"}

    def error(self, line: int, code: str, message: str) -> None:
        self._failed = True
        self._error(line, code, message)

    def check(self, line: int, obj: Any, file_format: str | None) -> Example | None:
        """Checks one parsed line; returns None when it has errors or no format."""
        self._failed = False
        if type(obj) is dict and len(obj) == 1 and file_format in (None, "chat"):
            messages = obj.get("messages")
            plain = self._plain_messages(messages) if type(messages) is list else None
            if plain is not None:
                return self._plain_chat(line, plain)
        if not isinstance(obj, dict):
            self.error(line, "not_an_object", "line is not a JSON object")
            return None
        formats = detect_format(obj)
        if not formats:
            keys = ", ".join(sorted(obj)) or "none"
            self.error(line, "unknown_format", f"no dataset format matches the keys ({keys})")
            return None
        if len(formats) > 1:
            self.error(line, "ambiguous_format", f"keys fit several formats: {formats}")
            return None
        fmt = formats[0]
        if file_format is not None and fmt != file_format:
            self.error(line, "mixed_format", f"line is {fmt} but the file is {file_format}")
            return None
        self._check_top_keys(line, obj, fmt)
        example = Example(fmt, 0, 0)
        if fmt == "chat":
            self._chat(line, obj, example, is_preference_input=False)
        elif fmt == "preference":
            self._preference(line, obj, example)
        elif fmt == "prompt_completion":
            self._prompt_completion(line, obj, example)
        else:
            self._text(line, obj, example)
        return None if self._failed else example

    def check_plain_chat(self, line: int, messages: list[PlainMessage]) -> Example | None:
        """``check`` for a chat line decoded as ``PlainChat``; NOT_PLAIN when it needs the
        general walk (decode it as a dict and call ``check``)."""
        plain_roles, role_tokens = self._plain_roles, self.role_tokens
        roles: list[str] = []
        texts: list[str] = []
        kinds: list[int] = []
        overhead = 3
        for message in messages:
            role, content = message.role, message.content
            if role not in plain_roles:
                return NOT_PLAIN
            if role == "assistant":
                if not content.strip():
                    return NOT_PLAIN
                kinds.append(TRAINABLE)
            else:
                kinds.append(PROMPT)
            texts.append(content)
            overhead += 3 + role_tokens.get(role, 1)
            roles.append(role)
        if not roles:
            return NOT_PLAIN
        self._failed = False
        return self._plain_chat(line, (roles, overhead, texts, kinds))

    def _plain_chat(
        self, line: int, plain: tuple[list[str], int, list[str], list[int]]
    ) -> Example | None:
        """What the general path concludes for a line of plain messages, minus its walk."""
        roles, overhead, texts, kinds = plain
        self._role_order(line, roles, is_preference_input=False)
        if self._failed:
            return None
        return Example("chat", overhead, len(roles), texts, kinds)

    def _plain_messages(
        self, messages: list[Any]
    ) -> tuple[list[str], int, list[str], list[int]] | None:
        """Roles, token overhead, texts and kinds of a non-empty list of messages that are all
        exactly {"role", "content": str} with nothing to report; None for anything else."""
        if not messages:
            return None
        plain_roles, role_tokens = self._plain_roles, self.role_tokens
        roles: list[str] = []
        texts: list[str] = []
        kinds: list[int] = []
        overhead = 3  # every reply is primed with <|start|>assistant<|message|>
        for message in messages:
            if type(message) is not dict or len(message) != 2:
                return None
            role = message.get("role")
            content = message.get("content")
            if type(role) is not str or type(content) is not str or role not in plain_roles:
                return None
            if role == "assistant":
                if not content.strip():
                    return None
                kinds.append(TRAINABLE)
            else:
                kinds.append(PROMPT)
            texts.append(content)
            overhead += 3 + role_tokens.get(role, 1)
            roles.append(role)
        return roles, overhead, texts, kinds

    def check_format_support(self, fmt: str) -> str | None:
        if fmt not in self.rules.formats:
            return f"{self.rules.name} does not accept {fmt} datasets"
        method = FORMAT_METHOD[fmt]
        if method not in self.rules.methods:
            return f"the model does not support {method} training needed by {fmt} data"
        return None

    def _check_top_keys(self, line: int, obj: dict[str, Any], fmt: str) -> None:
        allowed = self._top_keys[fmt]
        if allowed.issuperset(obj):
            return
        for key in obj:
            if key not in allowed:
                report = self.error if self.rules.extra_keys_are_errors else self.warning
                report(line, "unrecognized_key", f"unexpected key {key!r} for {fmt} data")

    def _chat(
        self, line: int, obj: dict[str, Any], example: Example, *, is_preference_input: bool
    ) -> None:
        messages = obj.get("messages")
        where = "input.messages" if is_preference_input else "messages"
        if not isinstance(messages, list) or not messages:
            self.error(line, "missing_messages", f"{where} must be a non-empty list")
            return
        if "tools" in obj and "available_tools" in obj:
            self.error(line, "conflicting_tools", "give tools or available_tools, not both")
        tools = obj.get("tools", obj.get("available_tools"))
        if tools is not None:
            self._tools(line, tools, example)
        if "parallel_tool_calls" in obj and not isinstance(obj["parallel_tool_calls"], bool):
            self.error(line, "invalid_parallel_tool_calls", "parallel_tool_calls must be bool")
        example.overhead += 3  # every reply is primed with <|start|>assistant<|message|>
        roles: list[str] = []
        pending_calls: set[str] = set()
        images = 0
        for index, message in enumerate(messages):
            role = self._message(line, index, message, example, pending_calls)
            if role is None:
                continue
            roles.append(role)
            content = message.get("content")
            if isinstance(content, list):
                images += sum(
                    1 for p in content if isinstance(p, dict) and p.get("type") == "image_url"
                )
        example.messages += len(messages)
        limit = self.rules.max_images_per_example
        if limit is not None and images > limit:
            self.error(line, "too_many_images", f"{images} images; at most {limit} allowed")
        if len(roles) == len(messages):
            self._role_order(line, roles, is_preference_input=is_preference_input)

    def _message(
        self, line: int, index: int, message: Any, example: Example, pending: set[str]
    ) -> str | None:
        where = f"message {index}"
        if not isinstance(message, dict):
            self.error(line, "invalid_message", f"{where} is not an object")
            return None
        role = message.get("role")
        if not isinstance(role, str):
            self.error(line, "missing_role", f"{where} has no role")
            return None
        if role not in ALL_ROLES:
            self.error(line, "unrecognized_role", f"{where} has unknown role {role!r}")
            return None
        if role not in self.rules.roles:
            self.error(
                line,
                "role_not_supported",
                f"{self.rules.name} does not accept role {role!r} ({where})",
            )
        for key in message:
            if key not in _MESSAGE_KEYS:
                self.error(line, "unrecognized_message_key", f"{where} has unknown key {key!r}")
            elif key in _LEGACY_MESSAGE_KEYS and self.rules.name == "vertex":
                self.error(
                    line, "message_key_not_supported", f"{where}: Gemini has no {key!r} field"
                )
        kind = PROMPT
        if "weight" in message:
            weight = message["weight"]
            if isinstance(weight, bool) or weight not in (0, 1):
                self.error(line, "invalid_weight", f"{where}: weight must be 0 or 1")
            elif role != "assistant":
                self.error(line, "weight_not_allowed", f"{where}: weight is only for assistant")
            elif weight == 0 and not self.rules.supports_untrained_turns:
                self.error(
                    line,
                    "weight_not_supported",
                    f"{where}: {self.rules.name} trains on every assistant turn (weight 0)",
                )
        if role == "assistant":
            kind = UNTRAINED if message.get("weight") == 0 else TRAINABLE
        example.overhead += 3 + self.role_tokens.get(role, 1)
        name = message.get("name")
        if name is not None:
            if not isinstance(name, str):
                self.error(line, "invalid_name", f"{where}: name must be a string")
            elif not self.rules.supports_message_name:
                self.error(
                    line,
                    "name_not_supported",
                    f"{where}: {self.rules.name} has no message name field",
                )
            else:
                example.overhead += 1
                example.add(name, PROMPT)
        tool_calls = message.get("tool_calls")
        if tool_calls is not None:
            if role != "assistant":
                self.error(line, "invalid_tool_call", f"{where}: only assistant has tool_calls")
            else:
                self._tool_calls(line, where, tool_calls, example, kind, pending)
        self._content(line, where, role, message, example, kind, tool_calls)
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id is None:
                if (
                    self.rules.name in ("openai", "mistral")
                    or self.rules.tool_responses_need_a_call
                ):
                    self.error(line, "missing_tool_call_id", f"{where}: tool has no tool_call_id")
            elif not isinstance(call_id, str):
                self.error(line, "invalid_tool_call_id", f"{where}: tool_call_id not a string")
            else:
                self._tool_call_id_shape(line, where, call_id)
                needs_call = self.rules.name == "mistral" or self.rules.tool_responses_need_a_call
                if needs_call and call_id not in pending:
                    self.error(
                        line,
                        "tool_response_without_call",
                        f"{where}: no pending tool call has id {call_id!r}",
                    )
                pending.discard(call_id)
        return role

    def _content(
        self,
        line: int,
        where: str,
        role: str,
        message: dict[str, Any],
        example: Example,
        kind: int,
        tool_calls: Any,
    ) -> None:
        content = message.get("content")
        has_call = bool(tool_calls) or message.get("function_call") is not None
        if content is None:
            if not has_call:
                self.error(line, "missing_content", f"{where} has no content")
            return
        if isinstance(content, str):
            if role == "assistant" and not has_call and not content.strip():
                self.error(line, "empty_assistant_message", f"{where}: assistant content is empty")
            if role == "assistant" and has_call and content and self.rules.name == "mistral":
                self.error(line, "content_and_tool_calls", f"{where}: content XOR tool_calls")
            example.add(content, kind)
            return
        if not isinstance(content, list) or not content:
            self.error(line, "invalid_content", f"{where}: content must be a string or parts")
            return
        if not self.rules.supports_multimodal:
            self.error(
                line,
                "content_parts_not_supported",
                f"{where}: {self.rules.name} needs string content",
            )
        for part in content:
            self._content_part(line, where, part, example, kind)

    def _content_part(self, line: int, where: str, part: Any, example: Example, kind: int) -> None:
        ptype = part.get("type") if isinstance(part, dict) else None
        if ptype == "text" and isinstance(part.get("text"), str):
            example.add(part["text"], kind)
        elif ptype == "image_url" and isinstance(part.get("image_url"), dict):
            url = part["image_url"].get("url")
            if not isinstance(url, str):
                self.error(line, "invalid_image", f"{where}: image_url.url must be a string")
            elif self.rules.name == "together" and (
                not url.startswith("data:image/") or len(url) > _MAX_IMAGE_B64
            ):
                self.error(
                    line,
                    "invalid_image",
                    f"{where}: images must be base64 data URLs of at most 10 MB",
                )
        else:
            self.error(line, "invalid_content", f"{where}: bad content part {part!r:.80}")

    def _tool_calls(
        self, line: int, where: str, calls: Any, example: Example, kind: int, pending: set[str]
    ) -> None:
        if not isinstance(calls, list) or not calls:
            self.error(line, "invalid_tool_call", f"{where}: tool_calls must be a list")
            return
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                self.error(line, "invalid_tool_call", f"{where}: tool call needs function.name")
                continue
            arguments = function.get("arguments")
            if not isinstance(arguments, str):
                self.error(
                    line,
                    "invalid_tool_call_arguments",
                    f"{where}: function.arguments must be a JSON string",
                )
            else:
                try:
                    parsed = json.loads(arguments)
                except ValueError:
                    self.error(
                        line,
                        "invalid_tool_call_arguments",
                        f"{where}: function.arguments is not valid JSON",
                    )
                else:
                    if self.rules.name == "vertex" and not isinstance(parsed, dict):
                        self.error(
                            line,
                            "invalid_tool_call_arguments",
                            f"{where}: Gemini function-call arguments must be a JSON object",
                        )
                example.add(arguments, kind)
            example.add(function["name"], kind)
            call_id = call.get("id")
            if not isinstance(call_id, str):
                if (
                    self.rules.tool_call_id_pattern is not None
                    or self.rules.name == "openai"
                    or self.rules.tool_responses_need_a_call
                ):
                    self.error(line, "invalid_tool_call_id", f"{where}: tool call has no id")
                continue
            self._tool_call_id_shape(line, where, call_id)
            pending.add(call_id)

    def _tool_call_id_shape(self, line: int, where: str, call_id: str) -> None:
        pattern = self.rules.tool_call_id_pattern
        if pattern is not None and not pattern.match(call_id):
            self.error(
                line,
                "invalid_tool_call_id",
                f"{where}: tool call id {call_id!r} must be 9 letters or digits",
            )

    def _tools(self, line: int, tools: Any, example: Example) -> None:
        if not isinstance(tools, list):
            self.error(line, "invalid_tools", "tools must be a list")
            return
        for index, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict):
                self.error(line, "invalid_tools", f"tool {index} needs a function object")
                continue
            name = function.get("name")
            if not isinstance(name, str) or not _TOOL_NAME.match(name):
                self.error(
                    line, "invalid_tools", f"tool {index}: name must match ^[a-zA-Z0-9_-]{{1,64}}$"
                )
            if self.rules.tool_needs_description_and_parameters and not (
                "description" in function and "parameters" in function
            ):
                self.error(line, "invalid_tools", f"tool {index}: needs description and parameters")
            if "parameters" in function:
                problem = self._schema_problem(function["parameters"])
                if problem is not None:
                    self.error(line, "invalid_tool_schema", f"tool {index}: {problem}")
        if self.collect_texts:
            example.add(json.dumps(tools, separators=(",", ":")), PROMPT)

    def _schema_problem(self, schema: Any) -> str | None:
        if not isinstance(schema, dict):
            return "parameters must be an object"
        if too_deep(schema):
            return f"parameters {TOO_DEEP}"
        key = json.dumps(schema, sort_keys=True)
        if key not in self._schema_ok:
            try:
                Draft7Validator.check_schema(schema)
                problem = None
            except SchemaError as exc:
                problem = f"parameters is not a valid JSON Schema: {exc.message}"
            if len(self._schema_ok) >= _SCHEMA_CACHE_LIMIT:
                self._schema_ok.clear()
            self._schema_ok[key] = problem
        return self._schema_ok[key]

    def _role_order(self, line: int, roles: list[str], *, is_preference_input: bool) -> None:
        rules = self.rules
        if not is_preference_input and "assistant" not in roles:
            self.error(line, "missing_assistant_message", "no assistant message to learn from")
        if is_preference_input and roles[-1] == "assistant":
            self.error(
                line,
                "preference_input_ends_with_assistant",
                "input.messages must not end with an assistant message",
            )
        if not is_preference_input and "user" not in roles and rules.name == "openai":
            self.warning(line, "missing_user_message", "example has no user message")
        systems = roles.count("system")
        if rules.max_system_messages is not None and systems > rules.max_system_messages:
            self.error(line, "too_many_system_messages", f"{systems} system messages")
        if (
            rules.last_message_must_be_assistant
            and not is_preference_input
            and roles[-1] != "assistant"
        ):
            self.error(line, "last_message_not_assistant", "the last message must be assistant")
        if rules.role_order == "alternating":
            if roles[0] not in ("system", "user"):
                self.error(line, "invalid_role_order", "must start with system or user")
            for i in range(1, len(roles)):
                if roles[i] == roles[i - 1] and roles[i] != "tool":
                    self.error(line, "invalid_role_order", f"message {i} repeats role {roles[i]!r}")
                    break
        elif rules.role_order == "mistral":
            for i in range(1, len(roles)):
                if roles[i] not in _MISTRAL_NEXT.get(roles[i - 1], frozenset()):
                    self.error(
                        line,
                        "invalid_role_order",
                        f"message {i}: {roles[i]!r} may not follow {roles[i - 1]!r}",
                    )
                    break
        elif rules.role_order == "system_first" and (
            "system" in roles[1:] or "developer" in roles[1:]
        ):
            self.error(line, "invalid_role_order", "a system message may only come first")

    def _preference(self, line: int, obj: dict[str, Any], example: Example) -> None:
        source = obj["input"]
        if not isinstance(source, dict):
            self.error(line, "invalid_preference_input", "input must be an object")
            return
        self._chat(line, source, example, is_preference_input=True)
        for key in ("preferred_output", "non_preferred_output"):
            output = obj[key]
            if (
                not isinstance(output, list)
                or len(output) != 1
                or not isinstance(output[0], dict)
                or output[0].get("role") != "assistant"
            ):
                self.error(
                    line,
                    "invalid_preference_output",
                    f"{key} must be a list of exactly one assistant message",
                )
                continue
            content = output[0].get("content")
            if not isinstance(content, str) or not content.strip():
                self.error(line, "invalid_preference_output", f"{key} needs non-empty content")
                continue
            example.overhead += 3 + self.role_tokens.get("assistant", 1)
            example.messages += 1
            example.add(content, TRAINABLE)

    def _prompt_completion(self, line: int, obj: dict[str, Any], example: Example) -> None:
        prompt, completion = obj["prompt"], obj["completion"]
        if not isinstance(prompt, str):
            self.error(line, "invalid_prompt", "prompt must be a string")
        if not isinstance(completion, str):
            self.error(line, "invalid_completion", "completion must be a string")
        elif not completion.strip():
            self.error(line, "empty_completion", "completion is empty")
        if isinstance(prompt, str) and isinstance(completion, str):
            example.add(prompt, PROMPT)
            example.add(completion, TRAINABLE)

    def _text(self, line: int, obj: dict[str, Any], example: Example) -> None:
        text = obj["text"]
        if not isinstance(text, str):
            self.error(line, "invalid_text", "text must be a string")
        elif not text.strip():
            self.error(line, "empty_text", "text is empty")
        else:
            example.add(text, TRAINABLE)
