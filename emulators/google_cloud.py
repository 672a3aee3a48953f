"""The Google Cloud pieces the Vertex emulator needs besides tuning: the OAuth 2.0 token
exchange a service account makes, and Cloud Storage's JSON API as google-cloud-storage
uses it.

- ``POST /token``: ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` with a signed
  JWT ``assertion`` (google-auth's service-account flow, RFC 7523). The claims are read (not
  the signature: the emulator has no key registry) and must name an issuer, Google's token
  endpoint or this one as audience, a scope and a future expiry; the answer is
  ``{access_token, expires_in, token_type}``. Every other route here and in the tuning API
  wants ``Authorization: Bearer`` with a token it issued (401 ``UNAUTHENTICATED``
  otherwise), so a test proves the exchange.
- ``POST /upload/storage/v1/b/{bucket}/o?uploadType=multipart``: ``multipart/related`` with
  the object's JSON metadata and then its bytes (files up to 8 MiB).
- ``POST …?uploadType=resumable`` answers a session URI in ``Location``; ``PUT`` chunks to it
  with ``Content-Range`` (308 with ``Range`` until the last one).
- ``GET /storage/v1/b/{bucket}/o/{name}``: object metadata; ``GET /download/storage/v1/b/
  {bucket}/o/{name}?alt=media``: its bytes, with ``X-Goog-Hash`` (crc32c and md5, base64).
Object resources carry ``crc32c``/``md5Hash`` as base64 of the big-endian digest, which the
client checks after an upload.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import quote

import google_crc32c
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth signs service-account assertions for Google's token endpoint whatever the
# key file's token_uri says, so that audience is accepted beside our own URL.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
TOKEN_SECONDS = 3600
GRPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def google_error(status: int, message: str) -> dict[str, Any]:
    """Google's JSON error body (``google.rpc.Status`` over HTTP)."""
    return {
        "error": {
            "code": status,
            "message": message,
            "status": GRPC_STATUS.get(status, "UNKNOWN"),
        }
    }


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse(google_error(status, message), status)


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class StoredObject:
    bucket: str
    name: str
    content: bytes
    content_type: str
    generation: int
    created: float

    def resource(self, base_url: str) -> dict[str, Any]:
        crc = google_crc32c.value(self.content).to_bytes(4, "big")
        quoted = quote(self.name, safe="")
        return {
            "kind": "storage#object",
            "id": f"{self.bucket}/{self.name}/{self.generation}",
            "selfLink": f"{base_url}/storage/v1/b/{self.bucket}/o/{quoted}",
            "mediaLink": f"{base_url}/download/storage/v1/b/{self.bucket}/o/{quoted}"
            f"?generation={self.generation}&alt=media",
            "name": self.name,
            "bucket": self.bucket,
            "generation": str(self.generation),
            "metageneration": "1",
            "contentType": self.content_type,
            "storageClass": "STANDARD",
            "size": str(len(self.content)),
            "md5Hash": base64.b64encode(hashlib.md5(self.content).digest()).decode(),
            "crc32c": base64.b64encode(crc).decode(),
            "etag": base64.b64encode(str(self.generation).encode()).decode(),
            "timeCreated": rfc3339(self.created),
            "updated": rfc3339(self.created),
        }


@dataclass
class Upload:
    bucket: str
    name: str
    content_type: str
    received: bytearray = field(default_factory=bytearray)


GeneratedObject = Callable[[str, str], bytes | None]
"""Content the emulator makes up on read (a job's metrics file), or None."""


class GoogleCloudState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, str] = {}  # access token → service account email
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self.uploads: dict[str, Upload] = {}
        self.generated: list[GeneratedObject] = []
        self._generation = int(time.time() * 1_000_000)

    def reset(self) -> None:
        with self.lock:
            self.tokens.clear()
            self.objects.clear()
            self.uploads.clear()

    def put(self, bucket: str, name: str, content: bytes, content_type: str) -> StoredObject:
        with self.lock:
            self._generation += 1
            stored = StoredObject(
                bucket, name, content, content_type, self._generation, time.time()
            )
            self.objects[(bucket, name)] = stored
        return stored

    def get(self, bucket: str, name: str) -> StoredObject | None:
        stored = self.objects.get((bucket, name))
        if stored is not None:
            return stored
        for make in self.generated:
            content = make(bucket, name)
            if content is not None:
                return StoredObject(bucket, name, content, "application/jsonl", 1, time.time())
        return None

    def read_uri(self, uri: str) -> bytes | None:
        """The bytes of ``gs://bucket/name``, or None when there is no such object."""
        if not uri.startswith("gs://"):
            return None
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        stored = self.get(bucket, name)
        return stored.content if stored is not None else None

    def authorized(self, request: Request) -> JSONResponse | None:
        """None when the request carries a token we issued, else the 401 to answer."""
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if token and token in self.tokens:
            return None
        return error_response(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential.",
        )


def _jwt_claims(assertion: str) -> dict[str, Any] | None:
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def _oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, 400)


def add_google_routes(app: FastAPI, state: GoogleCloudState) -> None:
    @app.post("/token")
    async def token(request: Request) -> Any:
        form = await request.form()
        if form.get("grant_type") != JWT_BEARER:
            return _oauth_error("unsupported_grant_type", "Invalid grant_type.")
        claims = _jwt_claims(str(form.get("assertion") or ""))
        if claims is None:
            return _oauth_error("invalid_grant", "Invalid JWT: cannot be decoded.")
        audiences = (str(request.url.replace(query="")), GOOGLE_TOKEN_AUDIENCE)
        if claims.get("aud") not in audiences:
            return _oauth_error("invalid_grant", f"Invalid JWT audience: {claims.get('aud')!r}.")
        if not claims.get("iss") or not claims.get("scope"):
            return _oauth_error("invalid_grant", "Invalid JWT: iss and scope are required.")
        if float(claims.get("exp") or 0) < time.time():
            return _oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token.")
        access = "ya29.emulated-" + secrets.token_urlsafe(24)
        with state.lock:
            state.tokens[access] = str(claims["iss"])
        return {"access_token": access, "expires_in": TOKEN_SECONDS, "token_type": "Bearer"}

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @app.post("/upload/storage/v1/b/{bucket}/o")
    async def upload(bucket: str, request: Request, uploadType: str = "") -> Any:
        if (denied := state.authorized(request)) is not None:
            return denied
        if uploadType == "multipart":
            return _multipart(state, bucket, await request.body(), request, base(request))
        if uploadType == "resumable":
            metadata = json.loads(await request.body() or b"{}")
            name = metadata.get("name") or request.query_params.get("name")
            if not name:
                return error_response(400, "Required parameter: name")
            upload_id = secrets.token_urlsafe(16)
            content_type = request.headers.get("x-upload-content-type") or metadata.get(
                "contentType", "application/octet-stream"
            )
            state.uploads[upload_id] = Upload(bucket, name, content_type)
            location = (
                f"{base(request)}/upload/storage/v1/b/{bucket}/o"
                f"?uploadType=resumable&upload_id={upload_id}"
            )
            return Response(status_code=200, headers={"Location": location})
        return error_response(400, f"Invalid uploadType: {uploadType!r}")

    @app.put("/upload/storage/v1/b/{bucket}/o")
    async def upload_chunk(bucket: str, request: Request, upload_id: str = "") -> Any:
        pending = state.uploads.get(upload_id)
        if pending is None or pending.bucket != bucket:
            return error_response(404, "No such upload session.")
        pending.received.extend(await request.body())
        total = request.headers.get("content-range", "").rpartition("/")[2]
        if total in ("*", "") or len(pending.received) < int(total):
            range_header = f"bytes=0-{len(pending.received) - 1}" if pending.received else ""
            return Response(
                status_code=308, headers={"Range": range_header} if range_header else {}
            )
        del state.uploads[upload_id]
        stored = state.put(bucket, pending.name, bytes(pending.received), pending.content_type)
        return stored.resource(base(request))

    @app.get("/storage/v1/b/{bucket}/o/{name:path}")
    async def object_metadata(bucket: str, name: str, request: Request) -> Any:
        if (denied := state.authorized(request)) is not None:
            return denied
        stored = state.get(bucket, name)
        if stored is None:
            return error_response(404, f"No such object: {bucket}/{name}")
        return stored.resource(base(request))

    @app.get("/download/storage/v1/b/{bucket}/o/{name:path}")
    async def download(bucket: str, name: str, request: Request) -> Any:
        if (denied := state.authorized(request)) is not None:
            return denied
        stored = state.get(bucket, name)
        if stored is None:
            return error_response(404, f"No such object: {bucket}/{name}")
        resource = stored.resource(base(request))
        return Response(
            stored.content,
            media_type=stored.content_type,
            headers={
                "X-Goog-Hash": f"crc32c={resource['crc32c']},md5={resource['md5Hash']}",
                "X-Goog-Generation": str(stored.generation),
            },
        )


def _multipart(
    state: GoogleCloudState, bucket: str, body: bytes, request: Request, base_url: str
) -> Any:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/related"):
        return error_response(400, "Multipart upload needs Content-Type multipart/related.")
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = list(message.iter_parts()) if message.is_multipart() else []
    if len(parts) != 2:
        return error_response(400, "Multipart upload needs metadata and media parts.")
    metadata_raw = parts[0].get_payload(decode=True)
    content = parts[1].get_payload(decode=True)
    if not isinstance(metadata_raw, bytes) or not isinstance(content, bytes):
        return error_response(400, "Multipart upload parts could not be read.")
    metadata = json.loads(metadata_raw or b"{}")
    name = metadata.get("name")
    if not name:
        return error_response(400, "Required parameter: name")
    media_type = parts[1].get_content_type() or "application/octet-stream"
    stored = state.put(bucket, name, content, metadata.get("contentType") or media_type)
    return stored.resource(base_url)
