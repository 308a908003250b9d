"""One deterministic numpy pass that lays out the whole shop history: who ordered what kind of order when."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from storepipe.emulators.woocommerce.catalog import FIRST_NAMES, LAST_NAMES, Catalog
from storepipe.emulators.woocommerce.config import EmulatorConfig
from storepipe.emulators.woocommerce.timeutil import DAY, TzTable, add_months

ORDER_STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "trash",
    "checkout-draft",
)
OS = {name: code for code, name in enumerate(ORDER_STATUSES)}
DELETED = -1  # Force-deleted: gone from every listing and 404 by id.
SUB_STATUSES = ("pending", "active", "on-hold", "cancelled", "switched", "expired", "pending-cancel", "trash")
SS = {name: code for code, name in enumerate(SUB_STATUSES)}
KIND_REGULAR, KIND_PARENT, KIND_RENEWAL, KIND_CREATED = 0, 1, 2, 3
VIA = ("checkout", "store-api", "admin", "rest-api", "subscription")
REFUND_FULL, REFUND_LINE, REFUND_AMOUNT = 0, 1, 2
PERIODS = ("day", "week", "month", "year")
BLOCK_CHECKOUT_FROM = 1704067200  # 2024-01-01: block checkout (created_via "store-api") becomes common.

# Relative order volume by month (Jan..Dec), weekday (Mon..Sun) and shop-local hour of day.
_MONTH = np.array([0.8, 0.75, 0.85, 0.85, 0.9, 0.85, 0.8, 0.85, 0.95, 1.05, 1.55, 1.9])
_WEEKDAY = np.array([1.12, 1.05, 1.0, 1.0, 0.95, 0.82, 1.06])
_HOUR = np.array(
    [
        0.6,
        0.35,
        0.2,
        0.12,
        0.1,
        0.15,
        0.4,
        1.0,
        1.6,
        1.9,
        2.0,
        2.0,
        2.1,
        2.0,
        1.9,
        1.9,
        2.0,
        2.2,
        2.5,
        2.9,
        3.1,
        2.8,
        2.0,
        1.2,
    ]
)
_YEARLY_GROWTH = 1.35


@dataclass
class Skeleton:
    """Column arrays describing every order, refund, subscription and registered customer."""

    start: int
    launch: int
    # Orders, sorted by creation (and therefore by id).
    o_id: np.ndarray
    o_created: np.ndarray
    o_paid: np.ndarray  # 0 = not paid
    o_completed: np.ndarray  # 0 = not completed
    o_modified: np.ndarray
    o_status: np.ndarray
    o_kind: np.ndarray
    o_sub: np.ndarray  # subscription position for parent/renewal orders, else -1
    o_buyer: np.ndarray
    o_customer: np.ndarray  # WP user id, 0 for guest checkouts
    o_coupon: np.ndarray  # coupon index or -1
    o_via: np.ndarray
    # Refunds, sorted by creation.
    r_id: np.ndarray
    r_order: np.ndarray  # order position
    r_created: np.ndarray
    r_kind: np.ndarray
    r_bump: np.ndarray  # whether it bumped the order's date_modified (PayPal IPN refunds did not)
    # Subscriptions, sorted by start.
    s_id: np.ndarray
    s_parent: np.ndarray  # order position of the parent order
    s_created: np.ndarray
    s_status: np.ndarray
    s_modified: np.ndarray
    s_item: np.ndarray  # catalogue index of the subscribed product/variation
    s_buyer: np.ndarray
    s_next: np.ndarray  # 0 = none
    s_last: np.ndarray
    s_end: np.ndarray
    s_cancelled: np.ndarray
    # Buyers (registered customers and guests) and registered customers sorted by user id.
    b_first: np.ndarray
    b_last: np.ndarray
    b_user: np.ndarray  # WP user id, 0 for guests
    c_buyer: np.ndarray
    c_created: np.ndarray
    c_modified: np.ndarray
    c_paying: np.ndarray
    next_post_id: int


def _sample_times(rng: np.random.Generator, n: int, start: int, now: int, tz: TzTable) -> np.ndarray:
    """n creation instants with growth, Nov/Dec peaks, Black Friday, weekday and hour-of-day shape."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    d0, d1 = tz.to_wall(start) // DAY, tz.to_wall(now - 1) // DAY
    days = np.arange(d0, d1 + 1, dtype=np.int64)
    dates = days.astype("datetime64[D]")
    month = dates.astype("datetime64[M]").astype(np.int64) % 12
    mday = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0.
    weights = _YEARLY_GROWTH ** ((days - d0) / 365.25) * _MONTH[month] * _WEEKDAY[weekday]
    # Black Friday to Cyber Monday (Fri 23..29 Nov → Mon), and the quiet days after Christmas.
    bf = (month == 10) & (mday >= 23) & (mday <= 29) & (weekday == 4)
    for shift, boost in ((0, 3.2), (1, 2.2), (2, 1.9), (3, 2.6)):
        idx = np.flatnonzero(bf) + shift
        weights[idx[idx < len(days)]] *= boost
    weights[(month == 11) & (mday >= 24)] *= 0.5
    weights *= rng.lognormal(0.0, 0.15, size=len(days))
    chosen = rng.choice(len(days), size=n, p=weights / weights.sum())
    hours = rng.choice(24, size=n, p=_HOUR / _HOUR.sum())
    walls = days[chosen] * DAY + hours * 3600 + rng.integers(0, 3600, size=n)
    utc = tz.wall_to_utc(walls)
    outside = (utc < start) | (utc >= now)
    utc[outside] = rng.integers(start, now, size=int(outside.sum()))
    return np.sort(utc)


def _lognormal_seconds(rng: np.random.Generator, median_s: float, sigma: float, n: int) -> np.ndarray:
    return (median_s * rng.lognormal(0.0, sigma, size=n)).astype(np.int64) + 1


def build_skeleton(config: EmulatorConfig, catalog: Catalog, tz: TzTable, start: int, now: int) -> Skeleton:
    """Lay out the history; all randomness comes from one numpy Generator seeded by the config seed."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0x5EED]))
    n_total = config.orders
    launch = min(p.created for p in catalog.products)

    subs = _plan_subscriptions(config, catalog, rng, tz, start, now)
    n_sub_orders = len(subs["start"]) + len(subs["renew_time"])
    n_regular = n_total - n_sub_orders
    regular_created = _sample_times(rng, n_regular, start, now, tz)

    # All orders, chronological; parents carry their subscription's plan, renewals their schedule.
    created = np.concatenate([regular_created, subs["start"], subs["renew_time"]])
    kind = np.concatenate(
        [
            np.full(n_regular, KIND_REGULAR),
            np.full(len(subs["start"]), KIND_PARENT),
            np.full(len(subs["renew_time"]), KIND_RENEWAL),
        ]
    ).astype(np.int8)
    sub_ref = np.concatenate([np.full(n_regular, -1), np.arange(len(subs["start"])), subs["renew_sub"]])
    intent_fail = np.concatenate([np.zeros(n_regular, bool), subs["parent_fail"], subs["renew_failed"]])
    order = np.lexsort((kind, created))
    created, kind, sub_ref, intent_fail = created[order], kind[order], sub_ref[order], intent_fail[order]
    sub_ref = sub_ref.astype(np.int32)
    n = len(created)

    status, paid, completed, modified = _order_lifecycle(rng, created, kind, intent_fail, subs, sub_ref, now)
    buyers = _assign_buyers(rng, n, kind, sub_ref, subs)
    coupon = _assign_coupons(rng, catalog, created, kind)
    via = _assign_via(rng, created, kind)
    refunds = _plan_refunds(rng, status, completed, modified, now)

    # A few orders are edited later by the shop manager (notes, addresses) which bumps date_modified.
    edited = np.flatnonzero(rng.random(n) < 0.03)
    later = created[edited] + (rng.random(len(edited)) * np.minimum(90 * DAY, now - created[edited])).astype(
        np.int64
    )
    modified[edited] = np.maximum(modified[edited], later)

    customers = _register_customers(rng, buyers, created, paid, now, launch)
    o_customer = np.where(buyers["guest_checkout"], 0, customers["user_of_buyer"][buyers["order_buyer"]])

    # Parent order position of every subscription (kind == parent, in subscription order).
    parent_pos = np.empty(len(subs["start"]), dtype=np.int64)
    parent_mask = kind == KIND_PARENT
    parent_pos[sub_ref[parent_mask]] = np.flatnonzero(parent_mask)

    post_ids = _assign_post_ids(rng, catalog, created, subs["start"], refunds["created"])
    return Skeleton(
        start=start,
        launch=launch,
        o_id=post_ids["orders"],
        o_created=created,
        o_paid=paid,
        o_completed=completed,
        o_modified=modified,
        o_status=status,
        o_kind=kind,
        o_sub=sub_ref,
        o_buyer=buyers["order_buyer"].astype(np.int32),
        o_customer=o_customer.astype(np.int32),
        o_coupon=coupon,
        o_via=via,
        r_id=post_ids["refunds"],
        r_order=refunds["order"],
        r_created=refunds["created"],
        r_kind=refunds["kind"],
        r_bump=refunds["bump"],
        s_id=post_ids["subs"],
        s_parent=parent_pos,
        s_created=subs["start"],
        s_status=subs["status"],
        s_modified=subs["modified"],
        s_item=subs["item"],
        s_buyer=subs["buyer"],
        s_next=subs["next"],
        s_last=subs["last"],
        s_end=subs["end"],
        s_cancelled=subs["cancelled"],
        b_first=buyers["first"],
        b_last=buyers["last"],
        b_user=customers["user_of_buyer"],
        c_buyer=customers["buyer"],
        c_created=customers["created"],
        c_modified=customers["modified"],
        c_paying=customers["paying"],
        next_post_id=post_ids["next"],
    )


def _plan_subscriptions(
    config: EmulatorConfig, catalog: Catalog, rng: np.random.Generator, tz: TzTable, start: int, now: int
) -> dict[str, np.ndarray]:
    """Subscriptions with their renewal schedule, trimmed so they stay a minority of all orders."""
    items = catalog.subscription_items()
    n_subs = round(config.orders * 0.014) if config.subscriptions and config.orders >= 40 and items else 0
    n_subs = max(n_subs, 2 if n_subs else 0)
    starts = _sample_times(rng, n_subs, start, now, tz)
    item_weights = np.array([0.55 if catalog.products[i].plan == ("month", 1) else 0.3 for i in items])
    item = np.array(items, dtype=np.int32)[
        rng.choice(len(items), size=n_subs, p=item_weights / item_weights.sum())
    ]
    churn_p = {"week": 0.03, "month": 0.06, "year": 0.35, "day": 0.01}
    parent_draw = rng.random(n_subs)
    fixed_length = rng.random(n_subs) < 0.08
    budget = int(config.orders * 0.3)
    plans: list[dict[str, object]] = []
    used = 0
    for i in range(n_subs):
        period, interval = catalog.products[int(item[i])].plan  # type: ignore[misc]
        parent_state = (
            "paid" if parent_draw[i] < 0.94 else ("pending" if parent_draw[i] < 0.97 else "cancelled")
        )
        lifetime = int(rng.geometric(churn_p[period]))
        cap = 12 if fixed_length[i] else 10**6
        renewals: list[int] = []
        next_payment, cancelled, end, failed_last = 0, 0, 0, False
        t0 = int(starts[i])
        k = 1
        while parent_state == "paid":
            due = _period_after(t0, period, interval * k)
            if k > min(lifetime, cap):
                if k > cap:  # Fixed-length plan ran out: expires at the end of the last paid term.
                    end = due
                else:  # Customer cancelled during the last paid term; it ends when that term does.
                    last_paid = _period_after(t0, period, interval * (k - 1))
                    cancelled = last_paid + int(rng.integers(3600, max(3601, due - last_paid)))
                    end = due
                break
            if due > now:
                next_payment = due
                break
            renewals.append(due + int(rng.integers(5, 900)))  # Action Scheduler runs a little late.
            k += 1
        if renewals:
            failed_last = bool(rng.random() < 0.05)
        if used + 1 + len(renewals) > budget:
            continue
        used += 1 + len(renewals)
        plans.append(
            {
                "start": t0,
                "item": int(item[i]),
                "renewals": renewals,
                "parent_state": parent_state,
                "next": next_payment,
                "cancelled": cancelled,
                "end": end,
                "failed_last": failed_last,
            }
        )
    return _subscription_columns(plans, now)


def _period_after(epoch: int, period: str, count: int) -> int:
    if period == "month":
        return add_months(epoch, count)
    if period == "year":
        return add_months(epoch, 12 * count)
    return epoch + count * (7 if period == "week" else 1) * DAY


def _subscription_columns(plans: list[dict[str, object]], now: int) -> dict[str, np.ndarray]:
    n = len(plans)
    out: dict[str, np.ndarray] = {
        "start": np.array([p["start"] for p in plans], dtype=np.int64),
        "item": np.array([p["item"] for p in plans], dtype=np.int32),
        "next": np.zeros(n, np.int64),
        "last": np.zeros(n, np.int64),
        "end": np.zeros(n, np.int64),
        "cancelled": np.zeros(n, np.int64),
        "status": np.zeros(n, np.int8),
        "modified": np.zeros(n, np.int64),
        "parent_fail": np.zeros(n, bool),
    }
    renew_time: list[int] = []
    renew_sub: list[int] = []
    renew_failed: list[bool] = []
    for i, plan in enumerate(plans):
        renewals: list[int] = plan["renewals"]  # type: ignore[assignment]
        start = int(plan["start"])  # type: ignore[arg-type]
        last_event = start
        for j, t in enumerate(renewals):
            renew_time.append(t)
            renew_sub.append(i)
            renew_failed.append(bool(plan["failed_last"]) and j == len(renewals) - 1)
            last_event = t
        out["last"][i] = renewals[-1] if renewals else start
        state = plan["parent_state"]
        if state != "paid":
            out["parent_fail"][i] = True
            out["status"][i] = SS["pending"] if state == "pending" else SS["cancelled"]
            if state == "cancelled":
                out["cancelled"][i] = out["end"][i] = start + 3600
                last_event = start + 3600
            out["last"][i] = 0
        elif plan["failed_last"]:
            out["status"][i] = SS["on-hold"]
            out["last"][i] = renewals[-2] if len(renewals) > 1 else start
        elif plan["end"] and not plan["cancelled"]:
            # A fixed-length plan has no further payment after its last renewal, only an end date.
            out["status"][i] = SS["expired"] if int(plan["end"]) <= now else SS["active"]  # type: ignore[arg-type]
            out["end"][i] = int(plan["end"])  # type: ignore[arg-type]
            last_event = max(last_event, min(now, int(plan["end"])))  # type: ignore[arg-type]
        elif plan["cancelled"]:
            cancelled, end = int(plan["cancelled"]), int(plan["end"])  # type: ignore[arg-type]
            if cancelled > now:  # The cancellation has not happened yet: still active.
                out["status"][i], out["next"][i] = SS["active"], end
            else:
                out["status"][i] = SS["pending-cancel"] if end > now else SS["cancelled"]
                out["cancelled"][i], out["end"][i] = cancelled, end
                last_event = max(last_event, cancelled, end if end <= now else 0)
        else:
            out["status"][i], out["next"][i] = SS["active"], int(plan["next"])  # type: ignore[arg-type]
        out["modified"][i] = last_event
    out["renew_time"] = np.array(renew_time, dtype=np.int64)
    out["renew_sub"] = np.array(renew_sub, dtype=np.int64)
    out["renew_failed"] = np.array(renew_failed, dtype=bool)
    # Subscribers are registered customers; the buyer is chosen in _assign_buyers.
    out["buyer"] = np.zeros(n, dtype=np.int32)
    return out


def _order_lifecycle(
    rng: np.random.Generator,
    created: np.ndarray,
    kind: np.ndarray,
    intent_fail: np.ndarray,
    subs: dict[str, np.ndarray],
    sub_ref: np.ndarray,
    now: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Status and paid/completed/modified instants; recent orders are naturally still processing."""
    n = len(created)
    u = rng.random(n)
    intent = np.full(n, OS["completed"], dtype=np.int8)
    regular = kind == KIND_REGULAR
    for status, upper in (
        ("failed", 0.04),
        ("cancelled", 0.09),
        ("pending", 0.102),
        ("on-hold", 0.11),
        ("trash", 0.114),
    ):
        intent[regular & (u < upper) & (intent == OS["completed"])] = OS[status]
    # Subscription parents that never got paid, and renewals whose automatic payment failed.
    parent_fail = (kind == KIND_PARENT) & intent_fail
    fail_state = subs["status"][np.clip(sub_ref, 0, None)] if len(subs["status"]) else np.zeros(n, np.int8)
    intent[parent_fail & (fail_state == SS["pending"])] = OS["pending"]
    intent[parent_fail & (fail_state == SS["cancelled"])] = OS["cancelled"]
    intent[(kind == KIND_RENEWAL) & intent_fail] = OS["failed"]

    slow = (rng.random(n) < 0.08) & (kind != KIND_RENEWAL)  # Bank transfers: paid days later (on-hold).
    pay_delay = np.where(slow, rng.integers(DAY, 3 * DAY, n), rng.integers(2, 120, n))
    fulfil = _lognormal_seconds(rng, 20 * 3600, 0.8, n)
    paid = np.where(intent == OS["completed"], created + pay_delay, 0).astype(np.int64)
    completed = np.where(intent == OS["completed"], paid + fulfil, 0).astype(np.int64)
    status = intent.copy()
    not_yet_paid = (intent == OS["completed"]) & (paid > now)
    status[not_yet_paid] = np.where(slow[not_yet_paid], OS["on-hold"], OS["pending"])
    paid[not_yet_paid] = 0
    completed[not_yet_paid] = 0
    in_fulfilment = (status == OS["completed"]) & (completed > now)
    status[in_fulfilment] = OS["processing"]
    completed[in_fulfilment] = 0

    modified = np.maximum.reduce([created, paid, completed])
    cancelled = status == OS["cancelled"]
    modified[cancelled] = created[cancelled] + rng.integers(3600, 72 * 3600, int(cancelled.sum()))
    late_cancel = cancelled & (modified > now)
    status[late_cancel], modified[late_cancel] = OS["pending"], created[late_cancel]
    failed = status == OS["failed"]
    modified[failed] = created[failed] + rng.integers(30, 600, int(failed.sum()))
    # Trashed orders were completed first; trashing bumps date_modified.
    trash = status == OS["trash"]
    paid[trash] = created[trash] + pay_delay[trash]
    completed[trash] = paid[trash] + fulfil[trash]
    modified[trash] = completed[trash] + rng.integers(DAY, 200 * DAY, int(trash.sum()))
    too_late = trash & (modified > now)
    status[too_late] = OS["processing"]
    completed[too_late] = 0
    paid[too_late] = np.minimum(paid[too_late], now)
    modified[too_late] = np.maximum(created[too_late], paid[too_late])
    np.minimum(modified, now, out=modified)
    return status, paid, completed, modified


def _assign_buyers(
    rng: np.random.Generator, n: int, kind: np.ndarray, sub_ref: np.ndarray, subs: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Repeat buyers: ~60 % registered; guests are only an e-mail on their orders."""
    n_buyers = max(4, round(n / 2.4))
    n_registered = max(2, round(0.6 * n_buyers))
    weights = rng.lognormal(0.0, 1.0, n_buyers)
    weights[:n_registered] *= 1.4
    order_buyer = rng.choice(n_buyers, size=n, p=weights / weights.sum())
    reg_p = weights[:n_registered] / weights[:n_registered].sum()
    subs["buyer"] = rng.choice(n_registered, size=len(subs["start"]), p=reg_p).astype(np.int32)
    sub_orders = kind != KIND_REGULAR
    order_buyer[sub_orders] = subs["buyer"][sub_ref[sub_orders]]
    # Registered customers sometimes check out as guests with the same e-mail address.
    guest_checkout = (order_buyer >= n_registered) | ((kind == KIND_REGULAR) & (rng.random(n) < 0.06))
    return {
        "order_buyer": order_buyer,
        "guest_checkout": guest_checkout,
        "n_registered": np.int64(n_registered),
        "first": rng.integers(0, len(FIRST_NAMES), n_buyers).astype(np.int16),
        "last": rng.integers(0, len(LAST_NAMES), n_buyers).astype(np.int16),
    }


def _register_customers(
    rng: np.random.Generator,
    buyers: dict[str, np.ndarray],
    created: np.ndarray,
    paid: np.ndarray,
    now: int,
    launch: int,
) -> dict[str, np.ndarray]:
    """Registration just before the first logged-in order; user ids follow registration order."""
    n_registered = int(buyers["n_registered"])
    order_buyer, guest_checkout = buyers["order_buyer"], buyers["guest_checkout"]
    big = np.iinfo(np.int64).max
    first_login = np.full(n_registered, big, dtype=np.int64)
    last_login = np.zeros(n_registered, dtype=np.int64)
    first_any = np.full(n_registered, big, dtype=np.int64)
    paying = np.zeros(n_registered, dtype=bool)
    reg_orders = order_buyer < n_registered
    logged = reg_orders & ~guest_checkout
    np.minimum.at(first_login, order_buyer[logged], created[logged])
    np.maximum.at(last_login, order_buyer[logged], created[logged])
    np.minimum.at(first_any, order_buyer[reg_orders], created[reg_orders])
    paying[order_buyer[logged & (paid > 0)]] = True
    reg = np.where(first_login < big, first_login - rng.integers(5, 300, n_registered), 0)
    guest_only = (first_login == big) & (first_any < big)
    reg[guest_only] = np.minimum(
        first_any[guest_only] + rng.integers(DAY, 30 * DAY, int(guest_only.sum())), now - 1
    )
    never = (first_login == big) & (first_any == big)
    reg[never] = rng.integers(launch, now, int(never.sum()))
    by_time = np.lexsort((np.arange(n_registered), reg))
    user_of_buyer = np.zeros(len(buyers["first"]), dtype=np.int32)
    user_of_buyer[by_time] = np.arange(2, n_registered + 2, dtype=np.int32)  # user 1 is the shop admin
    return {
        "user_of_buyer": user_of_buyer,
        "buyer": by_time.astype(np.int32),
        "created": reg[by_time],
        "modified": np.maximum(reg, last_login)[by_time],
        "paying": paying[by_time],
    }


def _assign_coupons(
    rng: np.random.Generator, catalog: Catalog, created: np.ndarray, kind: np.ndarray
) -> np.ndarray:
    """Coupon use grows with the number of valid campaigns (Black Friday codes dominate that week)."""
    n = len(created)
    coupons = catalog.coupons
    weights = np.zeros((len(coupons), n))
    for c in coupons:
        valid = (created >= c.valid_from) & (created >= c.created)
        if c.expires is not None:
            valid &= created < c.expires
        weights[c.idx, valid] = c.weight
    score = weights.sum(axis=0)
    use = (rng.random(n) < 1 - np.exp(-0.012 * score)) & (kind != KIND_RENEWAL) & (score > 0)
    cum = np.cumsum(weights, axis=0)
    pick = (cum < (rng.random(n) * score)[None, :]).sum(axis=0)
    return np.where(use, np.minimum(pick, len(coupons) - 1), -1).astype(np.int16)


def _assign_via(rng: np.random.Generator, created: np.ndarray, kind: np.ndarray) -> np.ndarray:
    u = rng.random(len(created))
    via = np.where(
        u < 0.04, VIA.index("admin"), np.where(u < 0.06, VIA.index("rest-api"), VIA.index("checkout"))
    )
    block = (
        (via == VIA.index("checkout")) & (created >= BLOCK_CHECKOUT_FROM) & (rng.random(len(created)) < 0.45)
    )
    via[block] = VIA.index("store-api")
    via[kind == KIND_PARENT] = np.where(
        block[kind == KIND_PARENT], VIA.index("store-api"), VIA.index("checkout")
    )
    via[kind == KIND_RENEWAL] = VIA.index("subscription")
    return via.astype(np.int8)


def _plan_refunds(
    rng: np.random.Generator,
    status: np.ndarray,
    completed: np.ndarray,
    modified: np.ndarray,
    now: int,
) -> dict[str, np.ndarray]:
    """Full and partial refunds of completed orders, days to weeks later (some in a later month)."""
    candidates = np.flatnonzero(status == OS["completed"])
    chosen = candidates[rng.random(len(candidates)) < 0.055]
    full = rng.random(len(chosen)) < 0.45
    second = ~full & (rng.random(len(chosen)) < 0.2)
    t1 = completed[chosen] + _lognormal_seconds(rng, 5 * DAY, 1.1, len(chosen))
    t2 = t1 + _lognormal_seconds(rng, 7 * DAY, 0.9, len(chosen))
    partial_kind = np.where(rng.random(len(chosen)) < 0.6, REFUND_LINE, REFUND_AMOUNT)
    kinds1 = np.where(full, REFUND_FULL, partial_kind)
    order = np.concatenate([chosen, chosen[second]])
    created = np.concatenate([t1, t2[second]])
    kind = np.concatenate([kinds1, np.full(int(second.sum()), REFUND_AMOUNT)])
    # PayPal IPN refunds are added without re-saving the order: date_modified stays put (#34798-like).
    bump = (kind == REFUND_FULL) | (rng.random(len(kind)) >= 0.15)
    keep = created <= now
    keep[len(chosen) :] &= keep[: len(chosen)][second]  # A second refund needs the first.
    order, created, kind, bump = order[keep], created[keep], kind[keep], bump[keep]
    status[order[kind == REFUND_FULL]] = OS["refunded"]
    np.maximum.at(modified, order[bump], created[bump])
    by_time = np.lexsort((order, created))
    return {
        "order": order[by_time],
        "created": created[by_time],
        "kind": kind[by_time].astype(np.int8),
        "bump": bump[by_time],
    }


def _assign_post_ids(
    rng: np.random.Generator, catalog: Catalog, orders: np.ndarray, subs: np.ndarray, refunds: np.ndarray
) -> dict[str, np.ndarray]:
    """One increasing WordPress post-id space for catalogue items, orders, subscriptions and refunds."""
    catalog_times = np.array(
        [p.created for p in catalog.products] + [c.created for c in catalog.coupons], dtype=np.int64
    )
    parts = [catalog_times, orders, subs, refunds]
    times = np.concatenate(parts)
    rank = np.concatenate([np.full(len(p), r, dtype=np.int8) for r, p in enumerate(parts)])
    within = np.concatenate([np.arange(len(p)) for p in parts])
    order = np.lexsort((within, rank, times))
    gaps = 1 + (rng.random(len(times)) < 0.08) * rng.integers(1, 4, len(times))  # auto-drafts, revisions
    ids = np.empty(len(times), dtype=np.int64)
    ids[order] = 10 + np.cumsum(gaps)
    bounds = np.cumsum([0] + [len(p) for p in parts])
    cat_ids = ids[bounds[0] : bounds[1]]
    for i, product in enumerate(catalog.products):
        product.post_id = int(cat_ids[i])
    for j, coupon in enumerate(catalog.coupons):
        coupon.post_id = int(cat_ids[len(catalog.products) + j])
    return {
        "orders": ids[bounds[1] : bounds[2]],
        "subs": ids[bounds[2] : bounds[3]],
        "refunds": ids[bounds[3] : bounds[4]],
        "next": np.int64(ids.max() + 1 if len(ids) else 10),
    }
