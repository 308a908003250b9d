"""Scripted and probabilistic fault injection (latency, 429, 5xx, resets, hangs, truncation, bad records)."""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import asdict, dataclass, field
from typing import Any

# Faults that decide the whole response: at most one of them fires per request (the first eligible one).
OUTCOMES = ("rate_limit", "server_error", "reset", "truncate")
# Faults that only add something before the request is served; any number of them can fire together.
ADDITIVE = ("latency", "hang", "insert")
# Per-record corruption, selected deterministically per object id while the fault is configured.
RECORD = ("malformed",)
KINDS = OUTCOMES + ADDITIVE + RECORD
MALFORMATIONS = ("bad_date", "missing_total", "negative_quantity")


@dataclass
class Fault:
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
    inserts: int = 1  # insert: orders created right before the request is served (offset drift)
    id: int = 0
    fired: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def matches(self, method: str, route: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return self._pattern is None or bool(self._pattern.search(route))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("_pattern")
        return out


@dataclass
class Decision:
    """What the injector decided for one request."""

    delay_s: float = 0.0
    inserts: int = 0
    outcome: Fault | None = None
    fired: list[str] = field(default_factory=list)


class FaultInjector:
    """Holds the fault list; decisions draw from one seeded RNG, reseeded whenever the list changes."""

    def __init__(self, seed: int, default_hang_s: float) -> None:
        self.seed = seed
        self.default_hang_s = default_hang_s
        self._faults: list[Fault] = []
        self._next_id = 1
        self._generation = 0
        self._rng = random.Random(f"{seed}:faults:0")

    def _changed(self) -> None:
        self._generation += 1
        self._rng = random.Random(f"{self.seed}:faults:{self._generation}")

    def add(self, kind: str, **options: Any) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        unknown = (
            set(options) - {f for f in Fault.__dataclass_fields__ if not f.startswith("_")} - {"id", "fired"}
        )
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        fault = Fault(kind=kind, **{k: v for k, v in options.items() if k not in ("id", "fired")})
        if fault.count is None and fault.rate is None:
            if kind == "malformed":
                fault.rate = 0.05
            else:
                fault.count = 1
        if fault.rate is not None and not 0 <= fault.rate <= 1:
            raise ValueError("rate must be between 0 and 1")
        if kind == "server_error" and fault.status not in (500, 502, 503, 504):
            raise ValueError("server_error status must be 500, 502, 503 or 504")
        if not 0 <= fault.fraction < 1:
            raise ValueError("fraction must be in [0, 1)")
        fault._pattern = re.compile(fault.path) if fault.path else None
        fault.id = self._next_id
        self._next_id += 1
        self._faults.append(fault)
        self._changed()
        return fault

    def clear(self, kind: str | None = None, fault_id: int | None = None) -> int:
        before = len(self._faults)
        self._faults = [
            f
            for f in self._faults
            if (kind is not None and f.kind != kind) or (fault_id is not None and f.id != fault_id)
        ]
        self._changed()
        return before - len(self._faults)

    def list(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self._faults]

    def _fires(self, fault: Fault) -> bool:
        if fault.count is not None:
            if fault.count <= 0:
                return False
            fault.count -= 1
            return True
        return self._rng.random() < (fault.rate or 0.0)

    def decide(self, method: str, route: str) -> Decision:
        decision = Decision()
        for fault in self._faults:
            if fault.kind in RECORD or not fault.matches(method, route):
                continue
            if fault.kind in OUTCOMES and decision.outcome is not None:
                continue  # Only one outcome per request; later scripted faults keep their count.
            if not self._fires(fault):
                continue
            fault.fired += 1
            decision.fired.append(fault.kind)
            if fault.kind == "latency":
                decision.delay_s += fault.latency_ms / 1000
            elif fault.kind == "hang":
                decision.delay_s += self.default_hang_s if fault.hang_s is None else fault.hang_s
            elif fault.kind == "insert":
                decision.inserts += fault.inserts
            else:
                decision.outcome = fault
        return decision

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
