"""OAuth 1.0a one-legged verification exactly as WC_REST_Authentication does it (HMAC-SHA1/SHA256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote, unquote

from storepipe.emulators.woocommerce.params import PhpValue

REQUIRED = (
    "oauth_consumer_key",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
)
_WINDOW_S = 15 * 60


class OAuthError(Exception):
    """A 401 WooCommerce raises while checking OAuth parameters."""

    def __init__(self, message: str, code: str = "woocommerce_rest_authentication_error") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def rfc3986(value: str) -> str:
    """wc_rest_urlencode_rfc3986: rawurlencode (which leaves '~' alone)."""
    return quote(value, safe="~")


def _flatten(params: dict[str, PhpValue]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        if isinstance(value, list):
            out += [(f"{key}[{i}]", v) for i, v in enumerate(value)]
        else:
            out.append((key, value))
    return out


def signature(
    method: str, url: str, params: dict[str, PhpValue], consumer_secret: str, algorithm: str
) -> str:
    """Base64 signature over METHOD&rawurlencode(url)&… with the key `secret&` (wc/v3)."""
    items = sorted((k, v) for k, v in _flatten(params) if k != "oauth_signature")
    # Keys and values are rawurlencoded, joined with '=', and that pair is rawurlencoded once more.
    pairs = [rfc3986(f"{rfc3986(k)}={rfc3986(v)}") for k, v in items]
    base = f"{method.upper()}&{rfc3986(url)}&{'%26'.join(pairs)}"
    digest = hashlib.sha256 if algorithm == "HMAC-SHA256" else hashlib.sha1
    return base64.b64encode(hmac.new(f"{consumer_secret}&".encode(), base.encode(), digest).digest()).decode()


def _header_params(authorization: str) -> dict[str, str]:
    if not authorization.lower().startswith("oauth "):
        return {}
    out = {}
    for part in authorization[6:].split(","):
        key, _, value = part.strip().partition("=")
        if key:
            out[key] = unquote(value.strip().strip('"'))
    return out


def verify_oauth(
    *,
    method: str,
    url: str,
    params: dict[str, PhpValue],
    authorization: str,
    consumer_key: str,
    consumer_secret: str,
    nonces: dict[str, float],
    now: float | None,
) -> bool:
    """True when valid, False when the request carries no OAuth at all; raises OAuthError otherwise.

    `url` is the scheme, host and path the request arrived on (WooCommerce uses home_url with the
    request's scheme), `now` the wall clock for the ±15 min timestamp window (None: skip that check).
    """
    merged = {**params, **_header_params(authorization)}
    if not any(k in merged for k in REQUIRED):
        return False
    missing = [k for k in REQUIRED if not merged.get(k)]
    if missing:
        raise OAuthError(
            f"Missing OAuth parameter(s) {', '.join(missing)}",
            "woocommerce_rest_authentication_missing_parameter",
        )
    if merged["oauth_consumer_key"] != consumer_key:
        raise OAuthError("Consumer key is invalid.")
    algorithm = str(merged["oauth_signature_method"])
    if algorithm not in ("HMAC-SHA1", "HMAC-SHA256"):
        raise OAuthError("Invalid signature - signature method is invalid.")
    provided = unquote(str(merged["oauth_signature"]).replace(" ", "+"))
    expected = signature(method, url, merged, consumer_secret, algorithm)
    if not hmac.compare_digest(expected, provided):
        raise OAuthError("Invalid signature - provided signature does not match.")
    timestamp = int(str(merged["oauth_timestamp"])) if str(merged["oauth_timestamp"]).isdigit() else -1
    if now is not None and not now - _WINDOW_S <= timestamp <= now + _WINDOW_S:
        raise OAuthError("Invalid timestamp.")
    nonce = str(merged["oauth_nonce"])
    if nonce in nonces:
        raise OAuthError("Invalid nonce - nonce has already been used.")
    nonces[nonce] = timestamp
    return True
