"""TikTok Shop tokens: a per-shop file store written by atomic rename, and a keeper that refreshes before expiry.

Why a file and not the environment or the database: TikTok rotates the refresh token on every refresh and
invalidates the previous one (research sheet §2), so it cannot live only in an environment variable, and
the house rules keep secrets out of the database. The store is `$STOREPIPE_HOME/secrets/tiktok_shop/<shop>.json`
(directory 0700, file 0600). A refresh writes the new pair to a temporary file, fsyncs it, renames it over
the old one and fsyncs the directory *before* the new access token is used: a crash at any moment leaves
either the old, still valid pair (the refresh never reached TikTok, or its answer was lost — see below)
or the new one, never a torn file. On Dagster's Docker or Kubernetes run launchers STOREPIPE_HOME must be
a volume shared by the runs (README, "Scaling out").

The one window no client can close: TikTok has issued the new pair but the answer never arrives (the
connection drops). The old refresh token is then dead and the shop must be reconnected; the error says so.

The initial pair comes from `storepipe shops connect SHOP --auth-code CODE` (the code TikTok hands to the
app's redirect URL), or, when no file exists yet, from the `<PREFIX>_REFRESH_TOKEN` environment variable.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from storepipe.http import AuthError
from storepipe.settings import get_settings
from storepipe.shops import Shop

# Refresh when less than this much of the access token's life is left (server clock): a sync that starts
# just before expiry does not fail half-way, and TikTok's 7-day tokens are refreshed about once a week.
REFRESH_MARGIN_S = 3600


@dataclass(frozen=True)
class TokenPair:
    """An access token and the refresh token issued with it; expiries are absolute unix seconds (TikTok's)."""

    access_token: str
    access_expires_at: int
    refresh_token: str
    refresh_expires_at: int

    @classmethod
    def from_grant(cls, data: dict[str, Any]) -> TokenPair:
        return cls(
            access_token=str(data["access_token"]),
            access_expires_at=int(data["access_token_expire_in"]),
            refresh_token=str(data["refresh_token"]),
            refresh_expires_at=int(data["refresh_token_expire_in"]),
        )

    def __repr__(self) -> str:  # never print a token, even by accident in a traceback or a log line
        return f"TokenPair(access_expires_at={self.access_expires_at}, refresh_expires_at={self.refresh_expires_at})"


def token_path(shop: Shop, home: Path | None = None) -> Path:
    return (home or get_settings().home) / "secrets" / "tiktok_shop" / f"{shop.key}.json"


class TokenFile:
    """One shop's token pair on disk; `locked()` serialises refreshes across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> TokenPair | None:
        try:
            raw = self.path.read_text()
        except FileNotFoundError:
            return None
        return TokenPair(**json.loads(raw))

    def save(self, pair: TokenPair) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(prefix=".tokens-", dir=directory)  # created 0600
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(asdict(pair), handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        directory_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)  # the rename itself survives a power cut
        finally:
            os.close(directory_fd)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


Refresher = Callable[[str], TokenPair]  # refresh token -> the new pair (raises AuthError when refused)


class TokenKeeper:
    """Hands out a valid access token; refreshes ahead of expiry, or when the API says the token expired.

    `now()` is the API server's clock (expiries are the server's unix seconds), None until an answer has
    told it: a stored token is then tried as it is and a 105002 answer refreshes it. Threads of one run share
    a keeper; processes share the file and its lock, and re-read it after taking the lock, so a token
    another run just refreshed is used instead of refreshing (and invalidating) it again.
    """

    def __init__(
        self,
        shop: Shop,
        store: TokenFile,
        refresher: Refresher,
        now: Callable[[], float | None],
        *,
        bootstrap_refresh_token: str | None = None,
        margin_s: int = REFRESH_MARGIN_S,
    ) -> None:
        self.shop = shop
        self.store = store
        self.refresher = refresher
        self.now = now
        self.bootstrap = bootstrap_refresh_token
        self.margin_s = margin_s
        self.refreshes = 0
        self._pair: TokenPair | None = None
        self._lock = threading.Lock()

    def access_token(self) -> str:
        with self._lock:
            pair = self._pair or self.store.load()
            if pair is None or self._expiring(pair):
                pair = self._refresh(stale=pair.access_token if pair else None)
            self._pair = pair
            return pair.access_token

    def expired(self, token: str) -> None:
        """The API answered 105002 for `token`: refresh unless another thread already did."""
        with self._lock:
            if self._pair is None or self._pair.access_token == token:
                self._pair = self._refresh(stale=token)

    def _expiring(self, pair: TokenPair) -> bool:
        now = self.now()
        return now is not None and pair.access_expires_at - now < self.margin_s

    def _refresh(self, *, stale: str | None) -> TokenPair:
        with self.store.locked():
            current = self.store.load()
            if (
                current is not None
                and current.access_token != stale
                and current.access_expires_at - self.now() >= (self.margin_s)
            ):
                return current  # another process refreshed while we waited for the lock
            refresh_token = current.refresh_token if current else self.bootstrap
            if not refresh_token:
                raise AuthError(
                    f"shop {self.shop.key!r} is not connected to TikTok Shop: run `storepipe shops connect "
                    f"{self.shop.key} --auth-code CODE` with the code from the app's authorization redirect, "
                    f"or set {self.shop.credentials_prefix}_REFRESH_TOKEN"
                )
            pair = self.refresher(refresh_token)
            self.store.save(pair)  # before the new access token is used: a crash now keeps a working pair
            self.refreshes += 1
            return pair
