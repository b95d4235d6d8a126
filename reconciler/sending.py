"""Carrying out a send: ``POST act_X/messages`` in batches of 50, every recipient journaled.

The journal (the state store's) is written before and after every batch: its recipients become
``intent`` before the request and get their outcome after it, each write one transaction. So a
kill at any moment leaves each recipient either untouched (pending), done (sent, skipped, failed)
or ``intent``: its call may or may not have been carried out. An intent is resolved first on the
next run, safely: within 12 hours of its call, sending it again is deduplicated by Meta's
per-token cooldown (a delivery then answers with the cooldown refusal, which is taken as evidence
that the first call delivered, and nothing is sent twice); after 12 hours nothing can tell, so it
becomes ``unknown`` and is reported for an operator to decide, never re-sent.

Meta's answers are handled by meaning (the seeds' error table and changelog): a recipient who
cannot be messaged (invalid token, unavailable, frequency cap, region) is skipped with the reason
and never retried; a campaign that cannot send, a budget or spending limit, missing terms of
service or payment stop the whole send with what to do, its recipients left pending for the next
apply; pacing waits when Meta's ``remaining_seconds`` is short and stops with the time otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from reconciler.clock import Sleep, from_utc_text, utc_text
from reconciler.core.plan import Action
from reconciler.core.sends import FAILED, INTENT, OPEN, PENDING, SENT, SKIPPED, UNKNOWN
from reconciler.errors import (
    AuthenticationError,
    GraphApiError,
    OutcomeUnknown,
    PermissionDenied,
    Throttled,
    TransientError,
    UnexpectedAnswer,
)
from reconciler.graph.client import GraphClient
from reconciler.kinds import send as send_kind
from reconciler.kinds.send import BATCH, COOLDOWN
from reconciler.model import freeze
from reconciler.operation import Result
from reconciler.resources import Kind
from reconciler.state.model import JournalRow, Resource, State
from reconciler.state.store import StateStore

Progress = Callable[[str], None]

# Recipients Meta will not take this message for: skipped, never retried.
SKIP = {
    2300004: "invalid subscription token",
    2300005: "the subscription token belongs to another Page",
    2300032: "the subscriber is not in a supported region",
    2300052: "recipient unavailable (or active in Messenger inside min_conversation_gap_seconds)",
    1893047: "recipient not available (account issues or platform enforcement)",
    551: "recipient unavailable",
}
# Frequency caps (changelog 2026-04-10): the seeds name them without numbers; 2300042-44 come from
# an unverified page, so the names are matched in the answer as well.
FREQUENCY_CAPS = {
    "WEEKLY_MM_LOAD_CAP_REACHED": "weekly frequency cap reached (marketing messages above 20% of organic threads)",
    "DAILY_MM_LOAD_CAP_REACHED": "daily frequency cap reached (marketing messages above 40% of organic threads)",
    "MIN_ORGANIC_THREAD_NOT_REACHED": "too few organic threads since the last marketing message",
}
FREQUENCY_CAP_CODES = {
    2300042: "WEEKLY_MM_LOAD_CAP_REACHED",
    2300043: "DAILY_MM_LOAD_CAP_REACHED",
    2300044: "MIN_ORGANIC_THREAD_NOT_REACHED",
}
PACING = 2300071  # "Pacing limit reached", with remaining_seconds; also how a token's 12-hour cooldown answers
BUDGET = {
    2300015: "the campaign's budget has been reached",
    2300017: "the ad account has reached its spend limitation",
    2300068: "a pacing limit was reached",
    2300069: "the campaign's lifetime budget is reached",
    2300070: "the campaign's daily budget is reached",
    2300072: "the ad account's spend cap is reached",
    2300073: "the ad account's daily spending limit is reached",
    2300074: "the prepay balance is depleted",
    2300075: "the business's stored balance is depleted",
    2300076: "the daily spending limit is reached",
    2300077: "the flex billing limit is reached",
    2300078: "the brand's extended credit limit is reached",
    2300079: "the daily spending limit is reached",
}
CANNOT_SEND = {
    2300000: "the campaign is not active",
    2300002: "the campaign's message set is not active",
    2300003: "the message is not active yet (a new campaign warms up for 1 hour; a re-activated one for 10 minutes)",
    2300012: "the campaign is still being populated",
}
BUSINESS = {
    2300011: "the ad account has no payment method: add one in the ad account's billing settings, then apply again",
    2300013: "the business has not accepted the marketing messages terms of service: accept them in Meta Business "
    "Suite, then apply again",
    2300019: "the app has not accepted the Marketing Message API terms of service: app dashboard -> Messenger -> "
    "Messenger API Settings, then apply again",
    2300030: "the ad account is not in a region the Marketing Message API serves (see the send guide's list)",
    2300031: "the Page is not in a region the Marketing Message API serves (see the send guide's list)",
    2300018: "Meta refused the message: the ad account, Page or subscriber is not in a supported region, or an "
    "attachment failed to save",
}
RETRY_LATER = {2300028: 3600}
# How far a delivery the cooldown dates may precede our record of the call (clocks to the second,
# the call written just before it was sent): a delivery earlier than that was not ours.
EVIDENCE_SLACK = 120.0  # pacing information not ready: "retry after 1 hour" (changelog 2026-05-05)


@dataclass(frozen=True)
class Outcome:
    status: str  # sent | skipped | failed | pending (not carried out: later) | intent (unknown yet)
    detail: str | None = None
    tracking_id: str | None = None


@dataclass(frozen=True)
class Stop:
    """The send cannot go on now: why, and when it may (None: after the business acts)."""

    why: str
    resume_at: float | None = None


def _cap_name(error: GraphApiError) -> str | None:
    named = FREQUENCY_CAP_CODES.get(error.code or 0) or FREQUENCY_CAP_CODES.get(error.subcode or 0)
    if named:
        return named
    said = f"{error.name or ''} {error.title or ''} {error.message}"
    return next((name for name in FREQUENCY_CAPS if name in said), None)


def _code(error: GraphApiError, table: Mapping[int, Any]) -> int | None:
    """The code of ``error`` found in ``table``: Meta may put it in ``code`` or ``error_subcode``."""
    for code in (error.code, error.subcode):
        if code is not None and code in table:
            return code
    return None


def _remaining(error: GraphApiError) -> float | None:
    value = error.error_data.get("remaining_seconds")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def judge(result: Result, now: float, *, since: float | None = None) -> Outcome | Stop:
    """What one answer means for its recipient, or for the whole send. ``since``: the recipient was
    left ``intent`` by an earlier run whose first call for it was made then; a cooldown refusal whose
    12 hours began after that proves that call (or a later try) delivered."""
    resolving = since is not None
    if result.ok:
        try:
            return Outcome(
                SENT,
                "sent again to resolve an interrupted call" if resolving else None,
                send_kind.parse_sent(result.body),
            )
        except UnexpectedAnswer as exc:
            return Outcome(INTENT, f"an answer that is not a send's: {exc.message}")
    error = result.error
    assert error is not None
    if isinstance(error, OutcomeUnknown):
        return Outcome(INTENT, f"no answer ({error.message})")
    verdict = _refusal(error, now, since)
    if since is not None and isinstance(verdict, Outcome) and verdict.status in (SKIPPED, FAILED):
        # The second call was refused, which says nothing of the first: it may have delivered.
        return Outcome(
            UNKNOWN,
            f"outcome unknown: its call at {utc_text(since)} got no answer, and the call made to find out was "
            f"refused ({verdict.detail}); not sent again",
        )
    return verdict


def _refusal(error: GraphApiError, now: float, since: float | None) -> Outcome | Stop:
    """What a refusal means, by its code (``judge``'s second half)."""
    cap = _cap_name(error)
    if cap:
        return Outcome(SKIPPED, f"{cap}: {FREQUENCY_CAPS[cap]}")
    code = _code(error, SKIP)
    if code is not None:
        return Outcome(SKIPPED, f"{code}: {SKIP[code]}")
    if _code(error, {PACING: 0}) is not None:
        wait = _remaining(error)
        if since is not None and wait is not None and now + wait - COOLDOWN >= since - EVIDENCE_SLACK:
            delivered = utc_text(now + wait - COOLDOWN)
            return Outcome(
                SENT,
                f"inferred: Meta's 12-hour cooldown refused a second call and dates a delivery at {delivered}, "
                "after the interrupted call",
            )
        return Outcome(PENDING, f"held: Meta's pacing or 12-hour cooldown until {utc_text(now + (wait or 0))}")
    code = _code(error, BUDGET)
    if code is not None:
        wait = _remaining(error)
        return Stop(f"{BUDGET[code]} (code {code})", now + wait if wait else None)
    code = _code(error, CANNOT_SEND)
    if code is not None:
        wait = _remaining(error)
        return Stop(f"{CANNOT_SEND[code]} (code {code})", now + wait if wait else None)
    code = _code(error, RETRY_LATER)
    if code is not None:
        return Stop(
            f"Meta's pacing information for the campaign is not ready (code {code}); retry after 1 hour",
            now + RETRY_LATER[code],
        )
    code = _code(error, BUSINESS)
    if code is not None:
        return Stop(f"{BUSINESS[code]} (code {code})")
    if isinstance(error, (AuthenticationError, PermissionDenied)):
        return Stop(str(error))
    if isinstance(error, Throttled):
        return Stop(f"throttled by Meta: {error.message}", error.regain_at)
    if isinstance(error, TransientError):
        return Outcome(PENDING, f"not carried out ({error.message}); tried again by the next apply")
    if error.code is not None and 2300000 <= error.code < 2400000:
        # The message itself is refused (invalid message id, creative, payload): for everyone alike.
        return Stop(f"Meta refused the message: {error.message} (code {error.code}); fix the template or campaign")
    return Outcome(FAILED, f"code {error.code}: {error.message}"[:300])


class SendRunner:
    """Carries out the sends of one apply, writing the journal and the send's resource."""

    def __init__(
        self,
        client: GraphClient,
        store: StateStore,
        ad_account: str,
        progress: Progress,
        sleep: Sleep,
        *,
        max_wait: float = 60.0,
    ) -> None:
        self.client = client
        self.store = store
        self.ad_account = ad_account
        self.progress = progress
        self.sleep = sleep
        self.max_wait = max_wait

    def now(self) -> float:
        return self.client.server_now()

    def start(self, state: State, action: Action, message_id: str, recipients: Sequence[str]) -> State:
        """Freeze the recipients in the journal, then record the send as started in state."""
        at = utc_text(self.now())
        self.store.journal_start(action.address, recipients, at)
        values = {**action.after, "message_id": message_id, "recipients": len(recipients), "started": at}
        applied = send_kind.SPEC.applied(values)
        resource = Resource(Kind.SEND, MappingProxyType({"message_id": message_id}), freeze(dict(applied)))
        return self.store.write(state.with_resource(action.address, resource))

    def run(
        self, action: Action, message_id: str, unsubscribed: frozenset[str] = frozenset()
    ) -> tuple[dict[str, int], Stop | None, int]:
        """Send to every open recipient of the journal (never to one mmctl has unsubscribed). Returns
        (outcome counts of this run, why it stopped if it did, recipients left unknown)."""
        address = action.address
        rows = {row.recipient: row for row in self.store.journal(address)}
        now = self.now()
        left = [
            JournalRow(r.recipient, SKIPPED, "unsubscribed (the unsubscribes file)", None, utc_text(now))
            for r in rows.values()
            if r.status == PENDING and r.recipient in unsubscribed
        ]
        if left:
            self.store.journal_mark(address, left)
            rows.update((row.recipient, row) for row in left)
        unknown = []
        for row in rows.values():
            if row.status == INTENT and _age(row.at, now) > COOLDOWN:
                unknown.append(
                    JournalRow(
                        row.recipient,
                        UNKNOWN,
                        f"outcome unknown: its call at {row.at} got no answer and "
                        "more than 12 hours have passed, so a second call would not be deduplicated; not "
                        "sent again (check the marketing_message_echoes webhooks for this token)",
                        None,
                        utc_text(now),
                    )
                )
        if unknown:
            self.store.journal_mark(address, unknown)
            for row in unknown:
                rows[row.recipient] = row
        recent = self.store.journal_recent(utc_text(now - COOLDOWN))
        # Intents first: they are resolved before anyone new is sent to.
        order = sorted(
            (r for r in rows.values() if r.status in OPEN),
            key=lambda r: (r.status != INTENT, r.recipient),
        )
        todo = [r for r in order if r.status == INTENT or _age(recent.get(r.recipient), now) >= COOLDOWN]
        held = len(order) - len(todo)
        counts: dict[str, int] = {}
        message = action.after["message"]
        gap = action.after.get("min_conversation_gap_seconds")
        stop: Stop | None = None
        index = 0
        while index < len(todo) and stop is None:
            batch = todo[index : index + BATCH]
            at = utc_text(self.now())
            # An intent keeps the time of its first call: that is what a delivery is dated against.
            self.store.journal_mark(
                address,
                [JournalRow(r.recipient, INTENT, r.detail, None, r.at if r.status == INTENT else at) for r in batch],
            )
            operations = [send_kind.message_send(self.ad_account, message_id, r.recipient, message, gap) for r in batch]
            results = self.client.batch(operations)
            now = self.now()
            fresh = [result for row, result in zip(batch, results) if row.status != INTENT]
            paced = len(fresh) > 1 and all(r.error is not None and _code(r.error, {PACING: 0}) for r in fresh)
            verdicts = [
                judge(result, now, since=_instant(r.at) if r.status == INTENT else None)
                for r, result in zip(batch, results)
            ]
            refused = _refused_alike(verdicts, results)
            if refused is not None:
                verdicts = [refused if isinstance(v, Outcome) and v.status == FAILED else v for v in verdicts]
            marks = []
            for row, verdict in zip(batch, verdicts):
                since = _instant(row.at) if row.status == INTENT else None
                if paced and (since is None or not (isinstance(verdict, Outcome) and verdict.status == SENT)):
                    marks.append(row)  # the campaign's pacing refused it: as it was before this call
                    continue
                if isinstance(verdict, Stop):
                    stop = stop or verdict
                    marks.append(row)  # refused, so not carried out: as it was before this call
                    continue
                if verdict.status == PENDING and since is not None:
                    marks.append(row)  # the earlier call is still unexplained: it stays in flight
                    continue
                # An unanswered call keeps the time it was made (what a delivery is dated against).
                stamp = {PENDING: row.at, INTENT: at if since is None else row.at}.get(verdict.status, utc_text(now))
                marks.append(JournalRow(row.recipient, verdict.status, verdict.detail, verdict.tracking_id, stamp))
                counts[verdict.status] = counts.get(verdict.status, 0) + 1
            self.store.journal_mark(address, marks)
            if paced:
                # Every new call was paced: the campaign's pacing, not one token's cooldown.
                waits = [w for w in (_remaining(r.error) for r in fresh if r.error is not None) if w is not None]
                wait = min(waits) if waits else None
                if wait is not None and wait <= self.max_wait:
                    self.progress(f"{address}: Meta's pacing: waiting {wait:.0f}s (error_data.remaining_seconds)")
                    self.sleep(wait)
                    todo[index : index + len(batch)] = [m for m in marks if m.status in OPEN]  # the same ones again
                    continue
                stop = Stop(
                    "Meta's pacing limit for the campaign was reached (code 2300071)", now + wait if wait else None
                )
                break
            index += len(batch)
            if index >= len(todo) or (index // BATCH) % 20 == 0:
                self.progress(f"{address}: {index:,}/{len(todo):,} recipients: {counts_text(counts)}")
        if held:
            counts["held"] = held
        if left:
            counts[SKIPPED] = counts.get(SKIPPED, 0) + len(left)
        return counts, stop, sum(1 for r in rows.values() if r.status == UNKNOWN) + counts.get(UNKNOWN, 0)


def _refused_alike(verdicts: Sequence[Outcome | Stop], results: Sequence[Result]) -> Stop | None:
    """A batch whose every call failed with one and the same code says something about the message,
    not about its recipients: the send stops instead of failing everyone one by one."""
    failed = [r for v, r in zip(verdicts, results) if isinstance(v, Outcome) and v.status == FAILED]
    if len(failed) < 2 or len(failed) != len(results):
        return None
    codes = {(r.error.code, r.error.subcode) for r in failed if r.error is not None}
    if len(codes) != 1:
        return None
    error = failed[0].error
    assert error is not None
    return Stop(
        f"Meta refused every call of a batch alike: {error.message} (code {error.code}); fix the template or campaign"
    )


def _instant(at: str) -> float:
    """Unix seconds of a journal time; 0 (long ago) for an unreadable one, so it is never trusted."""
    try:
        return from_utc_text(at)
    except ValueError:
        return 0.0


def _age(at: str | None, now: float) -> float:
    """Seconds since ``at`` (UTC text); very large for none or an unreadable one."""
    if not at:
        return float("inf")
    try:
        return now - from_utc_text(at)
    except ValueError:
        return float("inf")


def counts_text(counts: Mapping[str, int], none: str = "nothing yet") -> str:
    """``3 sent, 1 skipped``: a run's outcome counts, for progress and the report."""
    shown = [f"{n:,} {status}" for status, n in sorted(counts.items()) if n]
    return ", ".join(shown) or none
