"""A deterministic WooCommerce REST API (wc/v3) emulator: a real HTTP server over a generated shop.

Public API (what the CLI, tests and benchmarks call)::

    from storepipe.emulators.woocommerce import EmulatorConfig, WooStore, create_app, serve, run_in_thread

    cfg = EmulatorConfig(seed=1, orders=5000, version="9.4", timezone="Europe/Berlin", currency="EUR",
                         consumer_key="ck_demo", consumer_secret="cs_demo", latency_ms=0, now=None, years=3)
    serve(cfg, host="127.0.0.1", port=8081)        # blocking; prints one "WooCommerce emulator on …" line
    with run_in_thread(cfg) as emu:                 # uvicorn in a daemon thread on a free localhost port
        emu.base_url, emu.api_url, emu.auth         # shop URL, shop URL + /wp-json/wc/v3, (key, secret)
        emu.store                                   # the WooStore below

Same config → byte-identical responses: no wall clock is involved. The emulator clock starts at
`now` (default 2026-11-01T00:00:00Z) and moves only through `advance_time`.

WooStore control methods (thread-safe; the HTTP twin is under /_emulator, see control.py)::

    store.now -> int                                  store.advance_time(seconds=0, minutes=0, hours=0,
                                                                         days=0) -> int
    store.state() -> dict                             store.order_ids(status=None) / refund_ids() /
    store.get_order(id) -> dict                           subscription_ids() / customer_ids()
    store.get_refunds(order_id) -> list[dict]
    store.create_order(status="processing", customer_id=None, email=None,
                       line_items=[{"product_id", "variation_id", "quantity"}], coupon=None) -> dict
    store.modify_order(id, bump_modified=True, **fields)        # status, customer_note, billing/shipping
                                                                # (partial dicts), meta_data ({key: value}), …
    store.trash_order(id) / store.restore_order(id) / store.delete_order(id)   # delete = force delete
    store.add_refund(order_id, amount=None, line_id=None, quantity=1, reason="", bump_modified=True) -> dict
        # bump_modified=False is the PayPal-IPN case: the refund appears but date_modified stays
    store.edit_line_item(order_id, line_id, quantity=None, total=None, bump_modified=False) -> dict
    store.create_customer(email=None, first_name=None, last_name=None) / create_product(name, regular_price="9.90",
        sku=None) / create_coupon(code, amount="10", discount_type="percent", description="") -> dict
    store.update_resource("customer"|"product"|"coupon", id, **fields) / delete_resource(resource, id)
    store.register_webhook(url, secret=None, sign_wrongly=False, topics=None) -> dict (with the secret)
        # POST /_emulator/webhooks; pings (webhook_id=N), then delivers order/customer/product/coupon
        # .created/.updated/.deleted/.restored as the REST object, signed (notify.py); deliveries are logged:
        # store.webhooks.log() / GET /_emulator/webhooks/deliveries?wait=1
    store.set_fault(kind, **options) -> id            store.clear_faults(kind=None, fault_id=None)
    store.list_faults() -> list[dict]                 store.malformed_kind(order_id) -> str | None

Faults (options: count=N for "the next N matching requests" or rate=p for a seeded probability; path=regex
over the route such as "^/wc/v3/orders$"; method="GET")::

    latency (latency_ms)   rate_limit (429 HTML, retry_after)   server_error (status 500/502/503/504, HTML)
    reset (TCP RST)        hang (hang_s, default config.hang_s) truncate (200, body cut at `fraction`;
                           framed=True: just after an inner ']', so only a parser notices)
    malformed (rate = share of order ids, chosen per id: bad_date / missing_total / negative_quantity)
    insert (inserts=N new orders created right before each matching request: offset drift while paging)

Authentication: the emulator behaves like a store behind TLS (is_ssl() true), so HTTP Basic and the
consumer_key/consumer_secret query parameters are accepted over plain http; OAuth 1.0a one-legged
signatures are verified like WooCommerce does, for clients that sign plain-http requests.
"""

from storepipe.emulators.woocommerce.app import WooApp, create_app
from storepipe.emulators.woocommerce.config import EmulatorConfig
from storepipe.emulators.woocommerce.server import RunningEmulator, run_in_thread, serve
from storepipe.emulators.woocommerce.store import WooStore

__all__ = ["EmulatorConfig", "RunningEmulator", "WooApp", "WooStore", "create_app", "run_in_thread", "serve"]
