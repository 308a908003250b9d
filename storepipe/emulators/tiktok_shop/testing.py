"""A minimal signed HTTP client for exercising the emulator in tests (not the production source client)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import requests

from storepipe.emulators.tiktok_shop.server import RunningEmulator
from storepipe.sources.tiktok_shop.signing import sign


class SignedClient:
    """Signs every call like a real client, stamping `timestamp` from the emulator clock."""

    def __init__(self, emu: RunningEmulator, access_token: str | None = None) -> None:
        self.emu = emu
        self.session = requests.Session()
        self.access_token = access_token if access_token is not None else emu.store.authorize()["access_token"]

    def call(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        *,
        cipher: bool = True,
        timestamp: int | None = None,
        signature: str | None = None,
        access_token: str | None = None,
    ) -> requests.Response:
        params = {"app_key": self.emu.app_key, "timestamp": str(self.emu.store.now if timestamp is None else timestamp)}
        if cipher:
            params["shop_cipher"] = self.emu.shop_cipher
        params.update(query or {})
        raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        params["sign"] = signature if signature is not None else sign(self.emu.app_secret, path, params, raw)
        headers = {
            "content-type": "application/json",
            "x-tts-access-token": self.access_token if access_token is None else access_token,
        }
        return self.session.request(
            method, self.emu.base_url + path, params=params, data=raw or None, headers=headers, timeout=10
        )

    def data(self, method: str, path: str, query: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
        """The `data` of a successful call; raises AssertionError with the envelope otherwise."""
        response = self.call(method, path, query, **kwargs)
        payload = response.json()
        if response.status_code != 200 or payload.get("code") != 0:
            raise AssertionError(f"{response.status_code} {payload}")
        return payload["data"]

    def pages(
        self, path: str, list_key: str, query: dict[str, str], body: dict[str, Any] | None = None, method: str = "POST"
    ) -> Iterator[dict[str, Any]]:
        """Every page's data, following next_page_token until it is empty."""
        token = ""
        while True:
            page_query = dict(query, page_token=token) if token else dict(query)
            data = self.data(method, path, page_query, body=body)
            yield data
            token = data.get("next_page_token") or ""
            if not token:
                return
