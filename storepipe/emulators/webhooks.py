"""Outgoing webhook deliveries shared by the emulators: targets, a background sender with retries, a delivery log."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from storepipe.emulators.control import Body, ControlRoute, flag

# Connection errors and 5xx answers are retried this many times more, after a short pause: enough for a
# receiver that is just starting, small enough that a test never waits long. [INF] The real platforms retry
# over hours (WooCommerce: never; TikTok: ~2 min, 30 min, 3 h, 12 h [C1]); an emulator cannot wait that long.
RETRIES = 2
RETRY_PAUSE_S = 0.2
TIMEOUT_S = 10.0


@dataclass
class Target:
    """A registered receiver. `secret` is what the emulator signs with (TikTok: the app secret)."""

    id: int
    url: str
    secret: str
    sign_wrongly: bool = False
    topics: list[str] | None = None  # None = every event the emulator emits
    created: int = 0

    def wants(self, topic: str) -> bool:
        return self.topics is None or topic in self.topics

    @property
    def signing_key(self) -> str:
        """The key deliveries are signed with: the secret, or a wrong one for forged-delivery tests."""
        return f"{self.secret}-forged" if self.sign_wrongly else self.secret

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "sign_wrongly": self.sign_wrongly,
            "topics": self.topics,
            "created": self.created,
        }


@dataclass
class Delivery:
    """One POST to one target; `attempts` lists each try's HTTP status (None on a connection error)."""

    id: int
    target_id: int
    topic: str
    body: bytes
    headers: dict[str, str]
    state: str = "pending"  # pending | delivered | failed
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target_id": self.target_id,
            "topic": self.topic,
            "state": self.state,
            "headers": dict(self.headers),
            "body": self.body.decode("utf-8", "replace"),
            "attempts": list(self.attempts),
        }


Post = Callable[[str, bytes, dict[str, str]], int]
# The headers of one delivery, from its target and its delivery id (e.g. for a signature or a delivery id header).
Headers = Callable[[Target, int], dict[str, str]]


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    # No redirects: WooCommerce's webhook request does not follow them [C2].
    return requests.post(url, data=body, headers=headers, timeout=TIMEOUT_S, allow_redirects=False).status_code


class WebhookSender:
    """Holds the targets and sends deliveries one at a time, in the order they were queued, from one daemon
    thread (so the receiver sees events in the emulator's order). Content is decided by the caller when it
    queues, so equal seeds and control-API sequences give equal bodies; only the send time is real."""

    def __init__(self, post: Post = _post, retries: int = RETRIES, pause_s: float = RETRY_PAUSE_S) -> None:
        self._post = post
        self.retries = retries
        self.pause_s = pause_s
        self.targets: dict[int, Target] = {}
        self.deliveries: list[Delivery] = []
        self._next_target = 1
        self._lock = threading.Lock()
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ targets

    def add_target(
        self, url: str, secret: str, sign_wrongly: bool = False, topics: list[str] | None = None, now: int = 0
    ) -> Target:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) URL")
        if topics is not None and (not isinstance(topics, list) or not all(isinstance(t, str) for t in topics)):
            raise ValueError("topics must be a list of strings")
        with self._lock:
            target = Target(self._next_target, url, secret, sign_wrongly, topics, now)
            self._next_target += 1
            self.targets[target.id] = target
            return target

    def remove_target(self, target_id: int) -> bool:
        with self._lock:
            return self.targets.pop(target_id, None) is not None

    def targets_for(self, topic: str) -> list[Target]:
        with self._lock:
            return [t for t in self.targets.values() if t.wants(topic)]

    def list_targets(self) -> list[dict[str, Any]]:
        with self._lock:
            return [t.to_dict() for t in self.targets.values()]

    # ------------------------------------------------------------------ deliveries

    def publish(self, topic: str, body: bytes, headers: Headers) -> list[Delivery]:
        """Queue `body` to every target that wants `topic`; nothing happens when no target does."""
        return [self.send(target, topic, body, headers) for target in self.targets_for(topic)]

    def send(self, target: Target, topic: str, body: bytes, headers: Headers) -> Delivery:
        """Queue a delivery; it goes out from the sender thread."""
        with self._lock:
            number = len(self.deliveries) + 1
            delivery = Delivery(number, target.id, topic, body, headers(target, number))
            self.deliveries.append(delivery)
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="emulator-webhooks", daemon=True)
                self._thread.start()
        self._queue.put(delivery)
        return delivery

    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            target = self.targets.get(delivery.target_id)
            url = target.url if target is not None else ""
            state = "failed"
            for attempt in range(self.retries + 1):
                if attempt:
                    time.sleep(self.pause_s)
                try:
                    status: int | None = self._post(url, delivery.body, delivery.headers)
                    error = None
                except requests.RequestException as exc:
                    status, error = None, type(exc).__name__
                with self._lock:
                    delivery.attempts.append({"status": status, "error": error})
                if status is not None and status < 500:
                    # 4xx is the receiver's answer (e.g. a rejected signature): final, not retried.
                    state = "delivered" if 200 <= status < 300 else "failed"
                    break
            with self._lock:
                delivery.state = state
                self._pending -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until every queued delivery has finished (delivered or given up); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
            return True

    def log(self, topic: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [d.to_dict() for d in self.deliveries if topic is None or d.topic == topic]


class Notifier(Protocol):
    """An emulator's webhook builder: its sender and how a target is registered (validation, ping, secret)."""

    sender: WebhookSender

    def register(
        self, url: str, secret: str | None, sign_wrongly: bool, topics: list[str] | None
    ) -> dict[str, Any]: ...


class WebhookControls:
    """Mixin for an emulator's store: the webhook control methods, under the store's lock (like FaultControls)."""

    lock: AbstractContextManager[Any]
    notifier: Notifier

    @property
    def webhooks(self) -> WebhookSender:
        return self.notifier.sender

    def register_webhook(
        self, url: str, secret: str | None = None, sign_wrongly: bool = False, topics: list[str] | None = None
    ) -> dict[str, Any]:
        """Deliver the emulator's events to `url` from now on (`topics`: default all; sign_wrongly: a wrong key,
        for forged-delivery tests). The HTTP twin is POST /_emulator/webhooks; see the emulator's notify.py."""
        with self.lock:
            return self.notifier.register(url, secret, sign_wrongly, topics)


def _register(store: WebhookControls, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    sign_wrongly = flag(body, "sign_wrongly", False)
    url = body.pop("url", None)
    secret = body.pop("secret", None)
    topics = body.pop("topics", None)
    if body:
        raise ValueError(f"unknown option(s): {', '.join(sorted(body))}")
    if secret is not None and not isinstance(secret, str):
        raise ValueError("secret must be a string")
    return store.register_webhook(url, secret=secret, sign_wrongly=sign_wrongly, topics=topics)


def _unregister(store: WebhookControls, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    return {"removed": store.webhooks.remove_target(int(match["id"]))}


def _deliveries(store: WebhookControls, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    # ?wait=1 first lets the queue drain, so a test reads the outcome of everything it has triggered. The wait
    # holds up the emulator's event loop (control actions run inline), so a receiver must not be the emulator.
    idle = store.webhooks.wait_idle(float(query.get("timeout", "10"))) if query.get("wait") else None
    return {"idle": idle, "deliveries": store.webhooks.log(query.get("topic"))}


WEBHOOK_ROUTES: list[ControlRoute[Any]] = [
    ("GET", r"/webhooks", lambda s, b, m, q: s.webhooks.list_targets()),
    ("POST", r"/webhooks", _register),
    ("DELETE", r"/webhooks/(?P<id>\d+)", _unregister),
    ("GET", r"/webhooks/deliveries", _deliveries),
]
