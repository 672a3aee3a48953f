"""Prefixed, URL-safe random ids in the style of OpenAI's (``ftjob-…``, ``file-…``)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    # One read of the OS's randomness per id (not one per character: ids are made on every
    # create); 8 random bits per character leave the modulo bias below 2**-50.
    value = int.from_bytes(secrets.token_bytes(length + 8), "big")
    characters = []
    for _ in range(length):
        value, index = divmod(value, len(_ALPHABET))
        characters.append(_ALPHABET[index])
    return prefix + "".join(characters)
