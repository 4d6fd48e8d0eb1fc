"""What a simulation run found: traffic, settlement, convergence and speed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncpipe.simulation.instance_report import InstanceTally

# Final statuses that say the pipeline could not apply a valid call: the run failed even if the state matches.
FAILED_STATUSES = frozenset({"failed", "dead_lettered"})
UNSETTLED = "unsettled"


@dataclass(frozen=True)
class TenantMismatch:
    """A tenant whose served state differs from the model, with one line per difference."""

    tenant_id: str
    differences: Sequence[str]


@dataclass(frozen=True)
class AckTally:
    """What the simulator's ack endpoint saw (SPEC §6).

    `unacknowledged`: accepted events without a single well-signed ack. `wrong_status`: events whose
    first ack (the one a receiver deduping on eventId keeps) disagrees with the status the read API
    serves. `bad_signatures`: POSTs refused (bad signature, stale timestamp, replayed nonce, no JSON).
    """

    received: int
    unacknowledged: int
    wrong_status: int
    bad_signatures: int

    @property
    def ok(self) -> bool:
        return self.unacknowledged == 0 and self.wrong_status == 0 and self.bad_signatures == 0


@dataclass(frozen=True)
class SimulationReport:
    """`calls_sent` counts deliveries (re-sends included, retries of one delivery not)."""

    tenants: int
    calls_sent: int
    resent: int
    accepted: int
    rejected: Mapping[str, int]
    retries: int
    event_statuses: Mapping[str, int]
    mismatches: Sequence[TenantMismatch]
    send_elapsed_s: float
    elapsed_s: float
    notes: Sequence[str] = field(default_factory=tuple)
    # None: the run served no ack endpoint, acks were not checked.
    acks: AckTally | None = None
    # None: the order lifecycle was not played.
    instances: InstanceTally | None = None

    @property
    def tenants_converged(self) -> int:
        return self.tenants - len(self.mismatches)

    @property
    def calls_per_s(self) -> float:
        return self.calls_sent / self.send_elapsed_s if self.send_elapsed_s > 0 else 0.0

    @property
    def unsettled(self) -> int:
        return self.event_statuses.get(UNSETTLED, 0)

    @property
    def ok(self) -> bool:
        """Every tenant converged, every accepted event settled, none failed or dead-lettered,
        (when acks were checked) every accepted event acknowledged, correctly signed, and (when the
        order lifecycle was played) every instance converged and every answer kept SPEC §9."""
        failed = sum(self.event_statuses.get(status, 0) for status in FAILED_STATUSES)
        acks_ok = self.acks is None or self.acks.ok
        instances_ok = self.instances is None or self.instances.ok
        return not self.mismatches and self.unsettled == 0 and failed == 0 and acks_ok and instances_ok

    def render(self, max_mismatches: int = 5, max_lines: int = 5) -> str:
        """A short text block; the first `max_mismatches` tenants with up to `max_lines` differences each."""
        rejected = ", ".join(f"{code}: {count}" for code, count in sorted(self.rejected.items())) or "none"
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.event_statuses.items())) or "none"
        lines = [
            f"simulation {'OK' if self.ok else 'FAILED'}",
            f"  calls sent        {self.calls_sent} ({self.resent} re-sent duplicates, {self.retries} retries)",
            f"  accepted          {self.accepted}",
            f"  rejected          {rejected}",
            f"  event statuses    {statuses}",
            f"  tenants converged {self.tenants_converged}/{self.tenants}",
            f"  elapsed           {self.elapsed_s:.1f} s (sending {self.send_elapsed_s:.1f} s, "
            f"{self.calls_per_s:.0f} calls/s)",
        ]
        if self.acks is not None:
            lines.append(
                f"  acks              {self.acks.received} received; accepted events never acknowledged: "
                f"{self.acks.unacknowledged}; wrong status: {self.acks.wrong_status}; "
                f"bad signatures: {self.acks.bad_signatures}"
            )
        if self.instances is not None:
            lines += self.instances.render_lines()
        lines += [f"  note: {note}" for note in self.notes]
        for mismatch in self.mismatches[:max_mismatches]:
            lines.append(f"  tenant {mismatch.tenant_id}: {len(mismatch.differences)} difference(s)")
            lines += [f"    {line}" for line in mismatch.differences[:max_lines]]
        if len(self.mismatches) > max_mismatches:
            lines.append(f"  ... and {len(self.mismatches) - max_mismatches} more tenants differ")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Every figure as JSON data, mismatches in full."""
        return {
            "ok": self.ok,
            "tenants": self.tenants,
            "tenantsConverged": self.tenants_converged,
            "callsSent": self.calls_sent,
            "resent": self.resent,
            "retries": self.retries,
            "accepted": self.accepted,
            "rejected": dict(self.rejected),
            "eventStatuses": dict(self.event_statuses),
            "mismatches": [
                {"tenantId": mismatch.tenant_id, "differences": list(mismatch.differences)}
                for mismatch in self.mismatches
            ],
            "elapsedS": round(self.elapsed_s, 3),
            "sendElapsedS": round(self.send_elapsed_s, 3),
            "callsPerS": round(self.calls_per_s, 1),
            "notes": list(self.notes),
            "instances": None if self.instances is None else self.instances.to_json(),
            "acks": None
            if self.acks is None
            else {
                "received": self.acks.received,
                "unacknowledged": self.acks.unacknowledged,
                "wrongStatus": self.acks.wrong_status,
                "badSignatures": self.acks.bad_signatures,
            },
        }
