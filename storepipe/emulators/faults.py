"""Generic fault injection for the emulators: scripted or seeded-random faults of the kinds an emulator supports."""

from __future__ import annotations

import random
import re
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Generic, TypeVar


class FaultBase:
    """Behaviour shared by the emulators' `Fault` dataclasses, which must declare at least these fields (the
    leading underscore keeps `_pattern` out of the JSON view and out of the accepted options)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]
    kind: str
    count: int | None
    rate: float | None
    path: str | None  # regex searched in the request path; None = every path
    method: str | None  # None = any
    status: int
    latency_ms: int
    id: int
    fired: int
    _pattern: re.Pattern[str] | None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return self._pattern is None or bool(self._pattern.search(path))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("_pattern")
        return out


FaultT = TypeVar("FaultT", bound=FaultBase)


@dataclass
class DecisionBase(Generic[FaultT]):
    """What the injector decided for one request."""

    delay_s: float = 0.0
    outcome: FaultT | None = None
    fired: list[str] = field(default_factory=list)


DecisionT = TypeVar("DecisionT", bound=DecisionBase[Any])


class FaultInjectorBase(Generic[FaultT, DecisionT]):
    """Holds the fault list; random draws come from one seeded RNG, reseeded whenever the list changes, so the
    same configuration and request sequence fire the same faults.

    An emulator subclasses it and names its `fault_type`, `decision_type` and kinds: `outcomes` decide the whole
    response (at most one fires per request, the first eligible one), `additive` ones only add to the decision
    (any number can fire together; see `_apply`), `passive` ones are configured but never fire in `decide`."""

    fault_type: ClassVar[type[Any]]  # a dataclass deriving from FaultBase
    decision_type: ClassVar[type[Any]]  # a dataclass deriving from DecisionBase
    outcomes: ClassVar[tuple[str, ...]] = ()
    additive: ClassVar[tuple[str, ...]] = ()
    passive: ClassVar[tuple[str, ...]] = ()
    # Prefix of the RNG seed string, so emulators with equal seeds draw different sequences.
    rng_label: ClassVar[str] = "faults"
    # Options that are accepted but dropped (e.g. `id` and `fired` echoed back from a listing).
    ignored_options: ClassVar[frozenset[str]] = frozenset()
    server_error_statuses: ClassVar[tuple[int, ...]] = (500, 502, 503, 504)

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._faults: list[FaultT] = []
        self._next_id = 1
        self._generation = 0
        self._rng = random.Random(f"{seed}:{self.rng_label}:0")

    @classmethod
    def kinds(cls) -> tuple[str, ...]:
        return cls.outcomes + cls.additive + cls.passive

    def _changed(self) -> None:
        self._generation += 1
        self._rng = random.Random(f"{self.seed}:{self.rng_label}:{self._generation}")

    def _default_trigger(self, fault: FaultT) -> None:
        """Called when neither `count` nor `rate` is given: by default the next matching request."""
        fault.count = 1

    def _validate(self, fault: FaultT) -> None:
        """Kind-specific checks of a new fault beyond rate and server_error status; raise ValueError."""

    def add(self, kind: str, **options: Any) -> FaultT:
        kinds = self.kinds()
        if kind not in kinds:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(kinds)}")
        allowed = {name for name in self.fault_type.__dataclass_fields__ if not name.startswith("_")}
        unknown = set(options) - (allowed - {"id", "fired", "kind"}) - self.ignored_options
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        fault: FaultT = self.fault_type(
            kind=kind, **{k: v for k, v in options.items() if k not in self.ignored_options}
        )
        if fault.count is None and fault.rate is None:
            self._default_trigger(fault)
        if fault.rate is not None and not 0 <= fault.rate <= 1:
            raise ValueError("rate must be between 0 and 1")
        if kind == "server_error" and fault.status not in self.server_error_statuses:
            statuses = [str(status) for status in self.server_error_statuses]
            raise ValueError(f"server_error status must be {', '.join(statuses[:-1])} or {statuses[-1]}")
        self._validate(fault)
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

    def _fires(self, fault: FaultT) -> bool:
        if fault.count is not None:
            if fault.count <= 0:
                return False
            fault.count -= 1
            return True
        return self._rng.random() < (fault.rate or 0.0)

    def _apply(self, decision: DecisionT, fault: FaultT) -> None:
        """Add a fired additive fault to the decision; `latency` is understood here."""
        if fault.kind == "latency":
            decision.delay_s += fault.latency_ms / 1000

    def decide(self, method: str, path: str) -> DecisionT:
        decision: DecisionT = self.decision_type()
        for fault in self._faults:
            if fault.kind in self.passive or not fault.matches(method, path):
                continue
            if fault.kind in self.outcomes and decision.outcome is not None:
                continue  # One outcome per request; later scripted faults keep their count.
            if not self._fires(fault):
                continue
            fault.fired += 1
            decision.fired.append(fault.kind)
            if fault.kind in self.outcomes:
                decision.outcome = fault
            else:
                self._apply(decision, fault)
        return decision


class FaultControls:
    """Mixin for an emulator's store: the control interface's fault methods, each under the store's lock."""

    lock: AbstractContextManager[Any]
    faults: FaultInjectorBase[Any, Any]

    def set_fault(self, kind: str, **options: Any) -> int:
        """Add a fault (see the emulator's faults.Fault for options); returns its id."""
        with self.lock:
            return self.faults.add(kind, **options).id

    def clear_faults(self, kind: str | None = None, fault_id: int | None = None) -> int:
        with self.lock:
            return self.faults.clear(kind, fault_id)

    def list_faults(self) -> list[dict[str, Any]]:
        with self.lock:
            return self.faults.list()
