"""Scripted and probabilistic fault injection for the TikTok Shop emulator (rate limit, server error, latency)."""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, field
from typing import Any

# Faults that decide the whole response: at most one fires per request (the first eligible one).
OUTCOMES = ("rate_limit", "server_error")
# Faults that only delay the response; any number can fire together.
ADDITIVE = ("latency",)
KINDS = OUTCOMES + ADDITIVE


@dataclass
class Fault:
    """One configured fault. `count`: the next N matching requests; `rate`: probability per matching request.
    Neither given: count = 1."""

    kind: str
    count: int | None = None
    rate: float | None = None
    path: str | None = None  # regex searched in the request path, e.g. "^/order/"; None = every API path
    method: str | None = None  # e.g. "POST"; None = any
    status: int = 500  # server_error: HTTP 500, 502, 503 or 504 (envelope code 36009003)
    latency_ms: int = 200  # latency
    id: int = 0
    fired: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return self._pattern is None or bool(self._pattern.search(path))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("_pattern")
        return out


@dataclass
class Decision:
    """What the injector decided for one request."""

    delay_s: float = 0.0
    outcome: Fault | None = None
    fired: list[str] = field(default_factory=list)


class FaultInjector:
    """Holds the fault list; random draws come from one seeded RNG, reseeded whenever the list changes, so
    the same configuration and request sequence fire the same faults."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._faults: list[Fault] = []
        self._next_id = 1
        self._generation = 0
        self._rng = random.Random(f"{seed}:tts-faults:0")

    def _changed(self) -> None:
        self._generation += 1
        self._rng = random.Random(f"{self.seed}:tts-faults:{self._generation}")

    def add(self, kind: str, **options: Any) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        allowed = {name for name in Fault.__dataclass_fields__ if not name.startswith("_")} - {"id", "fired", "kind"}
        unknown = set(options) - allowed
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        fault = Fault(kind=kind, **options)
        if fault.count is None and fault.rate is None:
            fault.count = 1
        if fault.rate is not None and not 0 <= fault.rate <= 1:
            raise ValueError("rate must be between 0 and 1")
        if kind == "server_error" and fault.status not in (500, 502, 503, 504):
            raise ValueError("server_error status must be 500, 502, 503 or 504")
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

    def decide(self, method: str, path: str) -> Decision:
        decision = Decision()
        for fault in self._faults:
            if not fault.matches(method, path):
                continue
            if fault.kind in OUTCOMES and decision.outcome is not None:
                continue  # One outcome per request; later scripted faults keep their count.
            if not self._fires(fault):
                continue
            fault.fired += 1
            decision.fired.append(fault.kind)
            if fault.kind == "latency":
                decision.delay_s += fault.latency_ms / 1000
            else:
                decision.outcome = fault
        return decision
