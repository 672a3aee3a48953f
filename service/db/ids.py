"""Prefixed, URL-safe random ids in the style of OpenAI's (``ftjob-…``, ``file-…``)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))
