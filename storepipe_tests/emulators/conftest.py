"""Fixtures for the WooCommerce emulator tests: live servers (real HTTP) and a small API client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
import requests

from storepipe.emulators.woocommerce import EmulatorConfig, RunningEmulator, run_in_thread


class Api:
    """requests.Session bound to one emulator's /wp-json/wc/v3 with its consumer key (HTTP Basic)."""

    def __init__(self, emu: RunningEmulator) -> None:
        self.emu = emu
        self.session = requests.Session()
        self.session.auth = emu.auth

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.get(self.emu.api_url + path, **kwargs)

    def all_pages(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a collection, page by page (per_page=100) until X-WP-TotalPages."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            response = self.get(path, params={**(params or {}), "per_page": 100, "page": page})
            assert response.status_code == 200, response.text
            out += response.json()
            if page >= int(response.headers["X-WP-TotalPages"]):
                return out
            page += 1

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.emu.control_url + path, timeout=10, **kwargs)


ShopFactory = Callable[..., AbstractContextManager[RunningEmulator]]


@pytest.fixture(scope="session")
def shop() -> Iterator[RunningEmulator]:
    """A read-only 1500-order shop shared by the conformance and data tests (never mutate it)."""
    with run_in_thread(EmulatorConfig(seed=7, orders=1500)) as emu:
        yield emu


@pytest.fixture(scope="session")
def api(shop: RunningEmulator) -> Api:
    return Api(shop)


@pytest.fixture
def make_shop() -> ShopFactory:
    """Start a private emulator (for tests that mutate state or configure faults): `with make_shop(...)`."""

    def factory(**overrides: Any) -> AbstractContextManager[RunningEmulator]:
        settings: dict[str, Any] = {"seed": 3, "orders": 300}
        settings.update(overrides)
        return run_in_thread(EmulatorConfig(**settings))

    return factory


@pytest.fixture
def client() -> type[Api]:
    return Api
