"""Standard Webhooks signatures (the scheme OpenAI's ``webhooks.unwrap`` verifies)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def generate_secret() -> str:
    """``whsec_`` + standard (padded) base64 of 32 random bytes: both ``standardwebhooks`` and
    the ``openai`` SDK decode it to the same key."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def encode_body(payload: dict[str, Any]) -> str:
    """The exact text that is signed and sent; compact and stable so a redelivery is identical."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def signature_headers(
    message_id: str, timestamp: datetime, body: str, secrets_in_use: Sequence[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers; one ``v1,…`` entry per secret (during a rotation
    grace period both the new and the old secret sign, so either verifies)."""
    if not secrets_in_use:
        raise ValueError("at least one signing secret is required")
    signatures = [
        Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
        for secret in secrets_in_use
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
