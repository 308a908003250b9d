"""TikTok Shop request and webhook signatures (HMAC-SHA256, lower-case hex), shared by client and emulator."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

# Never part of the signed string: the signature itself and the legacy query-string token.
EXCLUDED_PARAMS = frozenset({"sign", "access_token"})

QueryValue = str | Sequence[str]


def _flatten(value: QueryValue) -> str:
    # Arrays in the query are comma-joined before signing (research §1, RB and EP agree).
    if isinstance(value, str):
        return value
    return ",".join(value)


def string_to_sign(path: str, query: Mapping[str, QueryValue], body: bytes | None) -> bytes:
    """path + sorted key/value pairs (minus sign/access_token) + raw body, before wrapping with the secret."""
    pairs = "".join(f"{key}{_flatten(query[key])}" for key in sorted(query) if key not in EXCLUDED_PARAMS)
    return (path + pairs).encode() + (body or b"")


def sign(app_secret: str, path: str, query: Mapping[str, QueryValue], body: bytes | None) -> str:
    """The `sign` query parameter: HMAC-SHA256(secret, secret + string_to_sign + secret), lower-case hex.

    `body` are the raw bytes exactly as sent (None or b"" for GET and multipart uploads)."""
    secret = app_secret.encode()
    message = secret + string_to_sign(path, query, body) + secret
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def webhook_signature(app_key: str, app_secret: str, body: bytes) -> str:
    """The webhook `Authorization` header: HMAC-SHA256(app_secret, app_key + raw body), lower-case hex."""
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


def verify_webhook(app_key: str, app_secret: str, body: bytes, authorization: str) -> bool:
    """Constant-time check of a webhook's Authorization header against the raw body bytes."""
    return hmac.compare_digest(webhook_signature(app_key, app_secret, body), authorization.strip())
