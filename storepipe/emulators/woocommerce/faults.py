"""Scripted and probabilistic fault injection (latency, 429, 5xx, resets, hangs, truncation, bad records)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from storepipe.emulators.faults import DecisionBase, FaultBase, FaultInjectorBase

# Faults that decide the whole response: at most one of them fires per request (the first eligible one).
OUTCOMES = ("rate_limit", "server_error", "reset", "truncate")
# Faults that only add something before the request is served; any number of them can fire together.
ADDITIVE = ("latency", "hang", "insert")
# Per-record corruption, selected deterministically per object id while the fault is configured.
RECORD = ("malformed",)
KINDS = OUTCOMES + ADDITIVE + RECORD
MALFORMATIONS = ("bad_date", "missing_total", "negative_quantity")


@dataclass
class Fault(FaultBase):
    """One configured fault. `count`: the next N matching requests; `rate`: probability per matching
    request (for `malformed`: the share of record ids affected). Neither: count = 1 (malformed: rate 0.05)."""

    kind: str
    count: int | None = None
    rate: float | None = None
    path: str | None = None  # regex searched in the route, e.g. "^/wc/v3/orders$"; None = every wc/v3 route
    method: str | None = None  # e.g. "GET"; None = any
    status: int = 503  # server_error: 500, 502 or 503
    retry_after: int | None = 1  # rate_limit: seconds in Retry-After (None = header omitted)
    latency_ms: int = 200  # latency
    hang_s: float | None = None  # hang: None = EmulatorConfig.hang_s
    fraction: float = 0.5  # truncate: share of the body that is sent
    # truncate: end the cut right after an inner ']', so the body still looks like a whole JSON array from
    # its first and last bytes (a client that only checks the framing is fooled; a JSON parser is not).
    framed: bool = False
    inserts: int = 1  # insert: orders created right before the request is served (offset drift)
    id: int = 0
    fired: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)


@dataclass
class Decision(DecisionBase[Fault]):
    """What the injector decided for one request (`inserts`: orders to create before serving it)."""

    inserts: int = 0


class FaultInjector(FaultInjectorBase[Fault, Decision]):
    """The WooCommerce kinds on the shared injector, plus `hang`/`insert` effects and per-record corruption."""

    fault_type: ClassVar[type[Fault]] = Fault
    decision_type: ClassVar[type[Decision]] = Decision
    outcomes = OUTCOMES
    additive = ADDITIVE
    passive = RECORD
    ignored_options = frozenset({"id", "fired"})

    def __init__(self, seed: int, default_hang_s: float) -> None:
        self.default_hang_s = default_hang_s
        super().__init__(seed)

    def _default_trigger(self, fault: Fault) -> None:
        if fault.kind == "malformed":
            fault.rate = 0.05
        else:
            fault.count = 1

    def _validate(self, fault: Fault) -> None:
        if not 0 <= fault.fraction < 1:
            raise ValueError("fraction must be in [0, 1)")

    def _apply(self, decision: Decision, fault: Fault) -> None:
        if fault.kind == "hang":
            decision.delay_s += self.default_hang_s if fault.hang_s is None else fault.hang_s
        elif fault.kind == "insert":
            decision.inserts += fault.inserts
        else:
            super()._apply(decision, fault)

    def malformation(self, route: str, object_id: int) -> str | None:
        """Which corruption (if any) a record gets; stable per (seed, id) so re-reads see the same damage."""
        for fault in self._faults:
            if fault.kind != "malformed" or not fault.matches("GET", route):
                continue
            digest = hashlib.blake2b(f"{self.seed}:malformed:{object_id}".encode(), digest_size=8).digest()
            draw = int.from_bytes(digest, "big")
            if (draw >> 8) / float(1 << 56) < (fault.rate or 0.0):
                return MALFORMATIONS[draw % len(MALFORMATIONS)]
        return None


def malform(record: dict[str, Any], kind: str) -> dict[str, Any]:
    """Damage a rendered order the way broken plugins and hand-edited databases do."""
    out = dict(record)
    if kind == "bad_date":
        out["date_created"] = "-0001-11-30T00:00:00"  # PHP's rendering of MySQL's zero date
        out["date_created_gmt"] = "0000-00-00T00:00:00"
    elif kind == "missing_total":
        out.pop("total", None)
        out.pop("total_tax", None)
    elif kind == "negative_quantity" and out.get("line_items"):
        items = [dict(li) for li in out["line_items"]]
        items[0]["quantity"] = -abs(items[0]["quantity"] or 1)
        out["line_items"] = items
    return out


def _nginx_page(title: str) -> str:
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


# Bodies of HTML error pages: hosts and proxies answer with these, not with WordPress JSON.
HTML_ERRORS = {
    500: (
        '<!DOCTYPE html>\n<html lang="en-US">\n<head>\n<meta charset="utf-8">\n'
        '<title>WordPress &rsaquo; Error</title>\n</head>\n<body id="error-page">\n'
        '\t<div class="wp-die-message"><p>There has been a critical error on this website.</p></div>\n'
        "</body>\n</html>\n"
    ),
    502: _nginx_page("502 Bad Gateway"),
    503: _nginx_page("503 Service Temporarily Unavailable"),
    504: _nginx_page("504 Gateway Time-out"),
    429: _nginx_page("429 Too Many Requests"),
}
