"""`storepipe emulator tiktok-shop` serves the emulator over HTTP and answers with the TikTok envelope."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import requests


def test_cli_serves_the_tiktok_shop_emulator() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "storepipe.cli", "emulator", "tiktok-shop", "--orders", "50", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/authorization/202309/shops", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "emulator did not start"
                time.sleep(0.2)
        body = response.json()
        # Unsigned and without an app key: refused in the envelope, as TikTok does (HTTP 200, code != 0).
        assert response.status_code == 200 and body["code"] == 36009004
        assert set(body) == {"code", "message", "request_id"}
    finally:
        process.terminate()
        process.wait(timeout=20)
