"""WooCommerce webhooks: the creation ping and `<resource>.<event>` deliveries whose body is the resource as the REST
API renders it, with the X-WC-Webhook-* headers and the base64 HMAC-SHA256 signature of the raw body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from storepipe.emulators.webhooks import Target, WebhookSender

if TYPE_CHECKING:
    from storepipe.emulators.woocommerce.store import WooStore

# Topics (resource.event) [C1: WH, WHF]. product.published and the action.* topics are not emitted.
EVENTS = {
    "order": ("created", "updated", "deleted", "restored"),
    "customer": ("created", "updated", "deleted"),
    "product": ("created", "updated", "deleted", "restored"),
    "coupon": ("created", "updated", "deleted", "restored"),
}
TOPICS = tuple(f"{resource}.{event}" for resource, events in EVENTS.items() for event in events)


def signature(secret: str, body: bytes) -> str:
    """X-WC-Webhook-Signature: base64(HMAC-SHA256(raw body, secret)) [C2]."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class WooNotifier:
    """Builds deliveries for the registered webhooks. [INF] The payload is rendered when the change happens; the
    real WooCommerce renders it when the queued job runs (so bursts collapse to the latest state) [C1]."""

    def __init__(self, store: WooStore) -> None:
        self.store = store
        self.sender = WebhookSender()

    @property
    def user_agent(self) -> str:
        cfg = self.store.config
        return f"WooCommerce/{cfg.version} Hookshot (WordPress/{cfg.wp_version})"

    def register(
        self, url: str, secret: str | None = None, sign_wrongly: bool = False, topics: list[str] | None = None
    ) -> dict[str, Any]:
        """A webhook for `topics` (default: all of TOPICS; a real webhook has one topic each), then the ping."""
        unknown = set(topics or ()) - set(TOPICS)
        if unknown:
            raise ValueError(f"unknown topic(s) {sorted(unknown)}; known: {', '.join(TOPICS)}")
        target = self.sender.add_target(url, secret or "", sign_wrongly, topics, self.store.now)
        if not secret:
            # [INF] WooCommerce generates a secret when none is given; here it follows from the seed and the id.
            digest = hashlib.sha256(f"{self.store.config.seed}:webhook-secret:{target.id}".encode()).hexdigest()
            target.secret = digest[:32]

        def ping_headers(target: Target, number: int) -> dict[str, str]:
            # The ping is a form POST without X-WC-* headers; WooCommerce wants exactly 200 back [C2].
            return {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": self.user_agent}

        self.sender.send(target, "ping", f"webhook_id={target.id}".encode(), ping_headers)
        return {**target.to_dict(), "secret": target.secret}

    def emit(self, topic: str, payload: Callable[[], bytes]) -> None:
        """Deliver `topic`; `payload` renders the body (the store's wp_json of the REST object: escaped slashes,
        ASCII, like trim(wp_json_encode(...)) [C2]) and is only called when some webhook wants the topic."""
        if not self.sender.targets_for(topic):
            return
        body = payload()
        resource, event = topic.split(".")
        source = self.store.home_url.rstrip("/") + "/"
        seed = self.store.config.seed

        def headers(target: Target, number: int) -> dict[str, str]:
            # Delivery-ID is wp_hash(id.time) upstream (32 hex); here a hash of the seed, webhook and delivery.
            delivery = hashlib.md5(f"{seed}:{target.id}:{number}".encode()).hexdigest()
            return {
                "Content-Type": "application/json",
                "User-Agent": self.user_agent,
                "X-WC-Webhook-Source": source,
                "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Resource": resource,
                "X-WC-Webhook-Event": event,
                "X-WC-Webhook-Signature": signature(target.signing_key, body),
                "X-WC-Webhook-ID": str(target.id),
                "X-WC-Webhook-Delivery-ID": delivery,
            }

        self.sender.publish(topic, body, headers)

    def deleted(self, resource: str, obj_id: int) -> None:
        """`<resource>.deleted` carries only the id [C1: WH build_payload]."""
        self.emit(f"{resource}.deleted", lambda: json.dumps({"id": obj_id}).replace(" ", "").encode())
