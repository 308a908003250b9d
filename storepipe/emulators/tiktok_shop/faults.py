"""Scripted and probabilistic fault injection for the TikTok Shop emulator (rate limit, server error, latency)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from storepipe.emulators.faults import DecisionBase, FaultBase, FaultInjectorBase

# Faults that decide the whole response: at most one fires per request (the first eligible one).
OUTCOMES = ("rate_limit", "server_error")
# Faults that only delay the response; any number can fire together.
ADDITIVE = ("latency",)
KINDS = OUTCOMES + ADDITIVE


@dataclass
class Fault(FaultBase):
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


class Decision(DecisionBase[Fault]):
    """What the injector decided for one request."""


class FaultInjector(FaultInjectorBase[Fault, Decision]):
    """The TikTok Shop kinds on the shared injector: equal configurations and request sequences fire the
    same faults (the RNG stream is separate from WooCommerce's)."""

    fault_type: ClassVar[type[Fault]] = Fault
    decision_type: ClassVar[type[Decision]] = Decision
    outcomes = OUTCOMES
    additive = ADDITIVE
    rng_label = "tts-faults"
