"""A service-account key file whose token URI is an emulator's ``/token``, for tests and demos.

google-auth signs a JWT with the file's private key and posts it to ``token_uri``; pointing
that at the Vertex emulator keeps the whole OAuth exchange on loopback.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def service_account_info(token_uri: str, project: str = "emulated-project") -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": f"tuneforge@{project}.iam.gserviceaccount.com",
        "client_id": str(secrets.randbits(60)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }


def write_service_account_file(
    path: Path, token_uri: str, project: str = "emulated-project"
) -> Path:
    """Write a fresh key file (mode 0600) for ``token_uri``; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(service_account_info(token_uri, project), indent=2))
    path.chmod(0o600)
    return path
