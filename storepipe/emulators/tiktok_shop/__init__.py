"""A deterministic TikTok Shop Open API (v202309+) emulator: a real HTTP server over a generated shop.

Public API (what tests, benchmarks and the future source client call)::

    from storepipe.emulators.tiktok_shop import EmulatorConfig, TikTokStore, create_app, serve, run_in_thread

    cfg = EmulatorConfig(seed=1, orders=2000, products=60, app_key="6a1b2c3d4e5f6", app_secret="…",
                         shop_id="…", shop_cipher="ROW_…", currency="USD", latency_ms=0, now=None,
                         access_token_ttl_s=7 * 86400, rate_limit_qps=50)
    serve(cfg, host="127.0.0.1", port=8082)        # blocking
    with run_in_thread(cfg) as emu:                 # uvicorn in a daemon thread on a free localhost port
        emu.base_url, emu.control_url, emu.app_key, emu.app_secret, emu.shop_cipher
        emu.store                                   # the TikTokStore

Same config and request sequence → byte-identical responses: the emulator clock starts at `now` (default
2026-11-01T00:00:00Z) and moves only through `advance_time`. Signed calls must carry `timestamp` from that
clock (the Date header of every response shows it). The QPS limiter is the only real-time component.

Endpoints (envelope {code, message, request_id, data}; errors on HTTP 200 except 106001 → 401,
36009002 → 429, injected 5xx)::

    GET  /api/v2/token/get?app_key&app_secret&auth_code&grant_type=authorized_code      (unsigned)
    GET  /api/v2/token/refresh?app_key&app_secret&refresh_token&grant_type=refresh_token (unsigned)
    GET  /authorization/202309/shops                                  signed, no shop_cipher
    GET  /logistics/202309/warehouses                                 signed + shop_cipher (all below too)
    POST /product/202502/products/search  (also 202309, 202312)       ?page_size&page_token
    GET  /product/202309/products/{id}
    POST /product/202309/inventory/search                             body product_ids | sku_ids
    POST /order/202309/orders/search                                  ?page_size&page_token&sort_field&sort_order
    GET  /order/202309/orders?ids=a,b
    GET  /finance/202309/statements                                   ?sort_field=statement_time (required)
    GET  /finance/202309/statements/{id}/statement_transactions       ?sort_field=order_create_time (required)
    GET  /finance/202507/orders/unsettled                             ?sort_field=order_create_time (required),
                                                                      page_size≤100, search_time_ge/lt
    POST /return_refund/202309/returns/search                         ?page_size(10–50)&page_token&sort_field&
                                                                      sort_order; body return_ids, order_ids,
                                                                      return_types, return_status, *_time_ge/lt
    POST /return_refund/202309/cancellations/search                   same paging; body cancel_ids, order_ids,
                                                                      cancel_types, cancel_status, *_time_ge/lt
    GET  /fbt/202408/warehouses                                       FBT warehouses (fbt.py)
    POST /fbt/202408/inventory/search                                 ?page_size&page_token; body goods_ids,
                                                                      fbt_warehouse_ids, sku_ids
    POST /fbt/202410/inventory_records/search                         same paging; + create_time_ge/le
    GET  /fbt/202409/inbound_orders?ids=a,b                           (no inbound search exists)
    POST /fbt/202409/goods/search                                     ?page_size&page_token; body goods_ids
    GET  /analytics/202405/shop/performance                           start_date_ge, end_date_lt (YYYY-MM-DD),
                                                                      granularity ALL|1D (analytics.py; paths
                                                                      unverified by the research sheet)
    GET  /analytics/202405/shop_products/performance                  same dates; ?page_size&page_token&sort_field

TikTokStore control methods (thread-safe; the HTTP twin is under /_emulator, see control.py)::

    store.now, store.advance_time(seconds=0, minutes=0, hours=0, days=0), store.state()
    store.issue_auth_code() -> code             store.authorize() -> token data (code + exchange)
    store.order_ids(), store.get_order(id)
    store.create_order(line_items=[{"sku_id", "quantity"}] | None, auction=False)
    store.modify_order(id, bump_update=True, seller_note=…, buyer_message=…, status=…)
    store.cancel_order(id, reason=…, initiator="SELLER")
    store.returns (ReturnDesk: return requests and cancellations), store.ledger (statements, unsettled estimates)
    store.fbt (FbtDesk: FBT stock and inbound orders), store.analytics (per-day shop performance)
    store.register_webhook(url, sign_wrongly=False, topics=None)   POST /_emulator/webhooks {"url", …}
        # signed deliveries (notify.py) of ORDER_STATUS_CHANGE (1) on creation/status change/cancel and as the
        # clock passes timeline events, CANCELLATION_STATUS_CHANGE (11), RETURN_STATUS_CHANGE (12) and
        # INBOUND_FBT_ORDER_STATUS_CHANGE (21); store.webhooks.log() / GET /_emulator/webhooks/deliveries?wait=1
    store.set_fault(kind, count=N | rate=p, path=regex, method=…) -> id   (rate_limit, server_error, latency)
    store.clear_faults(kind=None, fault_id=None), store.list_faults()
"""

from storepipe.emulators.tiktok_shop.app import TikTokApp, create_app
from storepipe.emulators.tiktok_shop.config import EmulatorConfig
from storepipe.emulators.tiktok_shop.server import RunningEmulator, run_in_thread, serve
from storepipe.emulators.tiktok_shop.store import TikTokStore

__all__ = ["EmulatorConfig", "RunningEmulator", "TikTokApp", "TikTokStore", "create_app", "run_in_thread", "serve"]
