"""Startup reconciliation: the journal against the broker, before any new order.

0. A venue with native OCO groups (`NativeGroups`: Alpaca holds a group's stop leg under
   an id of its own) re-learns every group of exits the journal has open (`track`), so
   the lookups below find its legs by our client ids and its open orders are ours; a
   group the venue does not hold is still to be sent (under the same ids, once).
1. Every order the journal has not closed is looked up at the broker by client id. Found:
   its cumulative execution is applied (fills missed while the trader was down are recorded
   exactly once). Not found: a PENDING_SUBMIT/UNKNOWN order of the bar being resumed stays
   pending (the trader looks it up again before sending); one of an earlier bar is closed
   as CANCELED ("never reached the broker") only when the broker is *certain* it does not
   hold it (`certainly_absent`: a late-processed submit can still appear within the
   broker's acceptance window); until then it stays open, counted as working exposure, and
   is listed as unresolved. A protective exit not found stays pending: the trader sends
   it (under its deterministic id) once it starts. An *acknowledged* order the broker does
   not know is a difference.
2. Open orders at the broker that the journal does not know are differences.
3. Positions and cash must then agree (cash within `cash_tolerance`).

Differences stop the trader with `ReconciliationError` listing them, unless the user
accepts the broker's state (`adopt=True`, `--adopt-broker-state`): the journal's ledger is
then overwritten by the broker's positions and cash, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from tradefolio.errors import BrokerError, NotNative, ReconciliationError, SubmitOutcomeUnknown
from tradefolio.live.broker import Broker, NativeGroups
from tradefolio.live.journal import Journal, dec
from tradefolio.live.orders import UNRESOLVED_STATUSES, JournalOrder, OrderStatus


@dataclass(slots=True)
class ReconciliationReport:
    """What reconciliation found and did."""

    fills_recorded: list[str] = field(default_factory=list)
    closed_never_sent: list[str] = field(default_factory=list)
    #: Orders not found whose absence the broker cannot confirm yet (left open).
    unresolved: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    adopted: bool = False

    @property
    def ok(self) -> bool:
        """True when journal and broker agree (after recording missed fills)."""
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        """The report as stored in the journal and shown by `live status`."""
        return {
            "fills_recorded": self.fills_recorded,
            "closed_never_sent": self.closed_never_sent,
            "unresolved": self.unresolved,
            "differences": self.differences,
            "adopted": self.adopted,
        }


def certainly_absent(journal: Journal, broker: Broker, order: JournalOrder) -> bool:
    """Whether `order`, just looked up in vain, is certainly not at the broker and never
    will be. Never for an order the broker once answered "duplicate id" for; otherwise the
    first empty lookup is journaled (the start of the broker's acceptance window) and the
    broker decides (`Broker.confirm_absent`)."""
    cid = order.client_order_id
    if journal.broker_holds(cid):
        return False
    missing_since = journal.note_missing(cid)
    return broker.confirm_absent(
        cid, placed_after=journal.created_at(cid), missing_since=missing_since
    )


def track_groups(journal: Journal, broker: Broker) -> int:
    """Step 0 of the module docstring: `broker.track` every OCO group of protective exits
    with an open member in the journal (all its members, as they were journaled); returns
    how many groups the venue holds. A venue that cannot be asked is a `BrokerError`:
    nothing is sent before its groups are known (a leg looked up in vain would be sent a
    second time)."""
    if not isinstance(broker, NativeGroups):
        return 0
    seen: set[str] = set()
    held = 0
    for order in journal.live_orders():
        group = order.oco_group
        if not order.is_protective or group is None or group in seen:
            continue
        seen.add(group)
        members = [o for o in journal.children_of(order.parent_id or "") if o.oco_group == group]
        if len(members) < 2:
            continue
        try:
            reports = broker.track([o.request() for o in members])
        except NotNative:
            continue  # placed one by one: every exit is looked up by its own client id
        except SubmitOutcomeUnknown as exc:
            raise BrokerError(
                f"cannot re-learn the exits of {group} at the broker ({exc}); nothing was "
                "sent: run again once the broker answers"
            ) from exc
        held += reports is not None
    return held


def reconcile(
    journal: Journal,
    broker: Broker,
    *,
    resume_bar: date | None,
    adopt: bool = False,
    cash_tolerance: Decimal = Decimal(0),
) -> ReconciliationReport:
    """Bring the journal in line with the broker or raise `ReconciliationError`."""
    report = ReconciliationReport()
    track_groups(journal, broker)
    for order in journal.live_orders():
        remote = broker.get_order(order.client_order_id)
        if remote is None:
            if order.status in UNRESOLVED_STATUSES:
                if order.bar == resume_bar or order.is_protective:
                    continue  # looked up again and sent by the trader (a protective exit:
                    # always, as long as its entry's position is held)
                if certainly_absent(journal, broker, order):
                    journal.set_status(
                        order.client_order_id, OrderStatus.CANCELED, "never reached the broker"
                    )
                    report.closed_never_sent.append(order.client_order_id)
                else:
                    report.unresolved.append(order.client_order_id)
                continue
            report.differences.append(
                f"order {order.client_order_id} is {order.status.value} in the journal but "
                "unknown to the broker"
            )
            continue
        fill = journal.apply_execution(
            order.client_order_id,
            remote.filled_quantity,
            remote.filled_notional,
            remote.commission,
            remote.status,
            remote.broker_order_id,
            cumulative_reference=remote.reference_notional,
        )
        if fill is not None:
            report.fills_recorded.append(fill.fill_id)
    for remote in broker.open_orders():
        if journal.order(remote.client_order_id) is None:
            report.differences.append(
                f"broker has open order {remote.client_order_id} ({remote.side.value} "
                f"{remote.quantity} {remote.symbol}) that the journal does not know"
            )
    ours = {symbol: p.quantity for symbol, p in journal.positions().items()}
    theirs = {p.symbol: p.quantity for p in broker.positions() if p.quantity != 0}
    for symbol in sorted(set(ours) | set(theirs)):
        mine, broker_qty = ours.get(symbol, Decimal(0)), theirs.get(symbol, Decimal(0))
        if mine != broker_qty:
            report.differences.append(
                f"position {symbol}: journal {dec(mine)}, broker {dec(broker_qty)}"
            )
    account = broker.account()
    cash = journal.cash()
    if abs(cash - account.cash) > cash_tolerance:
        report.differences.append(f"cash: journal {dec(cash)}, broker {dec(account.cash)}")
    if report.differences and adopt:
        journal.replace_ledger(account.cash, theirs, "; ".join(report.differences))
        report.adopted = True
    journal.record_reconciliation(report.ok or report.adopted, report.adopted, report.to_json())
    if report.differences and not adopt:
        shown = "; ".join(report.differences[:5])
        more = f" (+{len(report.differences) - 5} more)" if len(report.differences) > 5 else ""
        raise ReconciliationError(
            f"journal and broker disagree: {shown}{more}. Inspect with `tradefolio live "
            "status`, or accept the broker's state with --adopt-broker-state"
        )
    return report


__all__ = ["ReconciliationReport", "certainly_absent", "reconcile", "track_groups"]
