"""TikTok Shop webhook events: what changed (control-API mutations, timeline events as the clock advances), built
into the platform's body `{type, tts_notification_id, shop_id, timestamp, data}` and signed like TikTok does."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from storepipe.emulators.tiktok_shop.data import Order, stable_hash
from storepipe.emulators.tiktok_shop.render import happened, is_cancelled, order_status
from storepipe.emulators.tiktok_shop.returns import CANCEL_ID_OFFSET
from storepipe.emulators.webhooks import Target, WebhookSender
from storepipe.sources.tiktok_shop.signing import webhook_signature

if TYPE_CHECKING:
    from storepipe.emulators.tiktok_shop.store import TikTokStore

# Event type codes [C2: LD EventType.php; 1–7, 12 also EP]. Only these are emitted.
EVENT_TYPES = {
    "ORDER_STATUS_CHANGE": 1,
    "CANCELLATION_STATUS_CHANGE": 11,
    "RETURN_STATUS_CHANGE": 12,
    "INBOUND_FBT_ORDER_STATUS_CHANGE": 21,
}
# There is no statement or settlement event in the documented type list, so statements issued when the clock
# advances are not announced (clients have to poll /finance/202309/statements) [C2 for the list].
NOTIFICATION_ID_BASE = 7_400_000_000_000_000_000

Event = tuple[int, str, str, dict[str, Any]]  # (instant, event type name, tie-break id, data)


def order_status_event(order: Order, instant: int, now: int) -> Event:
    # data {order_id, order_status, update_time, is_on_hold_order} [C2].
    data = {
        "order_id": order.id,
        "order_status": order_status(order, now),
        "update_time": instant,
        "is_on_hold_order": order.on_hold_until is not None,
    }
    return instant, "ORDER_STATUS_CHANGE", order.id, data


def cancellation_event(order: Order) -> Event:
    # data {order_id, cancel_id, cancellations_role, cancel_status, create_time/update_time} [C2]; only completed
    # cancellations exist in the emulator (see returns.render_cancellation).
    instant = order.cancel_time or 0
    data = {
        "order_id": order.id,
        "cancel_id": str(int(order.id) + CANCEL_ID_OFFSET),
        "cancellations_role": order.cancellation_initiator,
        "cancel_status": "CANCELLATION_REQUEST_COMPLETE",
        "create_time": instant,
        "update_time": instant,
    }
    return instant, "CANCELLATION_STATUS_CHANGE", order.id, data


class TikTokNotifier:
    """Turns store changes into deliveries to the registered targets (nothing is built while there are none)."""

    def __init__(self, store: TikTokStore) -> None:
        self.store = store
        self.sender = WebhookSender()
        self._sent = 0

    def register(
        self, url: str, secret: str | None = None, sign_wrongly: bool = False, topics: list[str] | None = None
    ) -> dict[str, Any]:
        if secret is not None:
            raise ValueError("TikTok Shop signs webhooks with the app secret; there is no per-webhook secret")
        unknown = set(topics or ()) - set(EVENT_TYPES)
        if unknown:
            raise ValueError(f"unknown event type(s) {sorted(unknown)}; known: {', '.join(EVENT_TYPES)}")
        cfg = self.store.config
        target = self.sender.add_target(url, cfg.app_secret, sign_wrongly, topics, self.store.now)
        return target.to_dict()

    @property
    def active(self) -> bool:
        return bool(self.sender.targets)

    def emit(self, events: list[Event]) -> None:
        """Send events in (instant, type, id) order; notification ids follow from the seed and the send count."""
        cfg = self.store.config
        for instant, name, _, data in sorted(events, key=lambda e: (e[0], EVENT_TYPES[e[1]], e[2])):
            self._sent += 1
            body = {
                "type": EVENT_TYPES[name],
                "tts_notification_id": str(NOTIFICATION_ID_BASE + stable_hash(cfg.seed, "notify", self._sent) % 10**17),
                "shop_id": cfg.shop_id,
                "timestamp": instant,
                "data": data,
            }
            raw = json.dumps(body, separators=(",", ":")).encode()

            def headers(target: Target, number: int, raw: bytes = raw) -> dict[str, str]:
                # Authorization = lower-hex HMAC-SHA256(app_secret, app_key + raw body), no scheme prefix [C2].
                return {
                    "Content-Type": "application/json",
                    "Authorization": webhook_signature(cfg.app_key, target.signing_key, raw),
                }

            self.sender.publish(name, raw, headers)

    # ------------------------------------------------------------------ what changed

    def time_advanced(self, since: int, until: int) -> None:
        """Everything the order, return and inbound timelines reached in (since, until]."""
        if not self.active:
            return
        store = self.store
        events: list[Event] = []
        for order in store.orders:
            instants = [order.paid_time, order.on_hold_until, order.rts_time, order.collection_time]
            instants += [order.delivery_time, order.complete_time]
            for instant in instants:
                if instant is None or not since < instant <= until or not happened(order, instant, until):
                    continue
                if order_status(order, instant) != order_status(order, instant - 1):
                    events.append(order_status_event(order, instant, instant))
            if order.cancel_time is not None and since < order.cancel_time <= until and is_cancelled(order, until):
                events.append(order_status_event(order, order.cancel_time, until))
                events.append(cancellation_event(order))
            plan = store.returns.plan(order)
            if plan is not None and plan.order.cancel_time is None:
                for instant, status in plan.events:
                    if since < instant <= until:
                        data = {
                            "order_id": order.id,
                            "return_id": plan.return_id,
                            "return_role": "BUYER",
                            "return_type": plan.return_type,
                            "return_status": status,
                            "create_time": plan.create_time,
                            "update_time": instant,
                        }
                        events.append((instant, "RETURN_STATUS_CHANGE", plan.return_id, data))
        for instant, inbound, status in store.fbt.inbound_changes(since, until):
            # [INF] type 21's data is not documented; named after the inbound order's own fields.
            data = {
                "inbound_order_id": inbound.id,
                "inbound_order_status": status,
                "fbt_warehouse_id": inbound.warehouse.id,
                "update_time": instant,
            }
            events.append((instant, "INBOUND_FBT_ORDER_STATUS_CHANGE", inbound.id, data))
        self.emit(events)

    def order_changed(self, order: Order, status_before: str | None) -> None:
        """A control-API creation or modification: announced when the status is new (the platform has no event
        for note or message edits)."""
        now = self.store.now
        if self.active and order_status(order, now) != status_before:
            self.emit([order_status_event(order, now, now)])

    def order_cancelled(self, order: Order) -> None:
        if self.active:
            now = self.store.now
            self.emit([order_status_event(order, now, now), cancellation_event(order)])
