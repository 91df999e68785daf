"""Dead letters: the wire shape of STITCHD_DLQ and the one way every consumer puts a message there.

A consumer that cannot decode or store a message (after its bounded redeliveries, or at once when
retrying cannot help) publishes it to `stitchd.dlq.<consumer>` with its original body and headers, plus
`Stitchd-Dlq-*` headers: the reason, the original subject, stream, stream sequence and delivery count,
and the time. Then it acks the original and goes on. `Nats-Msg-Id` of a dead letter is
`dlq:<consumer>:<stream>:<sequence>`, so a consumer that crashes between dead-lettering and acking
stores it once; the original `Nats-Msg-Id` is kept in `Stitchd-Dlq-Msg-Id`.

`stitchd dlq list` reads them back (`from_stored`), `stitchd dlq replay` republishes them
(`replay_headers`). Pure and typed by protocols, so every process can use it without importing nats here.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Mapping
from typing import Any, Final, Protocol

import msgspec

DLQ_STREAM: Final = "STITCHD_DLQ"
DLQ_SUBJECT_PREFIX: Final = "stitchd.dlq"
DLQ_SUBJECTS: Final = DLQ_SUBJECT_PREFIX + ".>"
MSG_ID_HEADER: Final = "Nats-Msg-Id"
PREFIX: Final = "Stitchd-Dlq-"
NATS_PREFIX: Final = "Nats-"  # JetStream's own (ids, expectations): never carried over
REASON_HEADER: Final = "Stitchd-Dlq-Reason"
SUBJECT_HEADER: Final = "Stitchd-Dlq-Subject"
CONSUMER_HEADER: Final = "Stitchd-Dlq-Consumer"
STREAM_HEADER: Final = "Stitchd-Dlq-Stream"
SEQUENCE_HEADER: Final = "Stitchd-Dlq-Sequence"
DELIVERIES_HEADER: Final = "Stitchd-Dlq-Deliveries"
AT_HEADER: Final = "Stitchd-Dlq-At-Ms"
ORIGINAL_MSG_ID_HEADER: Final = "Stitchd-Dlq-Msg-Id"
MAX_REASON: Final = 500

# Process-wide count of dead-lettered messages by consumer (what a metrics endpoint will export).
DEAD_LETTERED: Final[collections.Counter[str]] = collections.Counter()

_NOT_IN_TOKEN: Final = re.compile(r"[^A-Za-z0-9_-]")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]+")


class DlqPublisher(Protocol):
    """What dead-lettering needs of a JetStream context (nats-py's `JetStreamContext` is one)."""

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,  # noqa: ASYNC109 - nats-py's signature
        stream: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> Any: ...


class JsMessage(Protocol):
    """What `original_of` reads of a received message (nats-py's `Msg` is one)."""

    subject: str
    reply: str
    headers: dict[str, str] | None

    @property
    def metadata(self) -> Any: ...


class Original(msgspec.Struct, frozen=True, kw_only=True):
    """Where a dead message came from: its subject, headers, stream position and delivery count."""

    subject: str
    headers: Mapping[str, str] | None = None
    stream: str = ""
    sequence: int = 0
    deliveries: int = 0


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """One stored dead letter as `stitchd dlq list` shows it (`id` is its STITCHD_DLQ sequence)."""

    id: int
    consumer: str
    subject: str
    reason: str
    at_ms: int
    stream: str
    sequence: int
    deliveries: int
    size: int
    headers: dict[str, str]


def dlq_subject(consumer: str) -> str:
    """`stitchd.dlq.<consumer>`, the consumer name made one subject token."""
    return f"{DLQ_SUBJECT_PREFIX}.{_NOT_IN_TOKEN.sub('_', consumer) or '_'}"


def reason_text(reason: str | BaseException) -> str:
    """One short header-safe line: an exception's type and message, control characters removed."""
    text = f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else reason
    line = _CONTROL.sub(" ", text).strip()
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


def original_of(msg: JsMessage) -> Original:
    """Where a received message came from (stream position 0 for a plain, non-JetStream message)."""
    if not (msg.reply or "").startswith("$JS.ACK."):
        return Original(subject=msg.subject, headers=msg.headers)
    meta = msg.metadata
    return Original(
        subject=msg.subject,
        headers=msg.headers,
        stream=meta.stream,
        sequence=meta.sequence.stream,
        deliveries=meta.num_delivered,
    )


def dead_letter_headers(original: Original, *, consumer: str, reason: str, at_ms: int) -> dict[str, str]:
    """The dead letter's headers: the original's (its `Nats-Msg-Id` moved aside, JetStream's other
    `Nats-*` dropped) plus `Stitchd-Dlq-*`."""
    kept = original.headers or {}
    headers = {k: v for k, v in kept.items() if not k.startswith((PREFIX, NATS_PREFIX))}
    msg_id = kept.get(MSG_ID_HEADER)
    if msg_id is not None:
        headers[ORIGINAL_MSG_ID_HEADER] = msg_id
    return headers | {
        MSG_ID_HEADER: f"dlq:{consumer}:{original.stream}:{original.sequence}",
        REASON_HEADER: reason_text(reason),
        SUBJECT_HEADER: original.subject,
        CONSUMER_HEADER: consumer,
        STREAM_HEADER: original.stream,
        SEQUENCE_HEADER: str(original.sequence),
        DELIVERIES_HEADER: str(original.deliveries),
        AT_HEADER: str(at_ms),
    }


async def dead_letter(
    js: DlqPublisher, original: Original, data: bytes, *, consumer: str, reason: str, at_ms: int
) -> None:
    """Store the message in STITCHD_DLQ (waits for the ack; raises what the publish raises) and count it."""
    headers = dead_letter_headers(original, consumer=consumer, reason=reason, at_ms=at_ms)
    await js.publish(dlq_subject(consumer), data, stream=DLQ_STREAM, headers=headers)
    DEAD_LETTERED[consumer] += 1


def _int(headers: Mapping[str, str], name: str) -> int:
    raw = headers.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() else 0


def from_stored(seq: int, data: bytes, headers: Mapping[str, str] | None) -> DeadLetter:
    """A STITCHD_DLQ message as a DeadLetter (missing headers read as empty or 0)."""
    h = dict(headers or {})
    return DeadLetter(
        id=seq,
        consumer=h.get(CONSUMER_HEADER, ""),
        subject=h.get(SUBJECT_HEADER, ""),
        reason=h.get(REASON_HEADER, ""),
        at_ms=_int(h, AT_HEADER),
        stream=h.get(STREAM_HEADER, ""),
        sequence=_int(h, SEQUENCE_HEADER),
        deliveries=_int(h, DELIVERIES_HEADER),
        size=len(data),
        headers=h,
    )


def replay_headers(letter: DeadLetter) -> dict[str, str]:
    """The headers to republish a dead letter with: the original's, and a fresh `Nats-Msg-Id` (the
    original id would be dropped by the stream's duplicate window; a replay of one letter stays one).
    JetStream's `Nats-*` headers of the dead letter itself (`Nats-Expected-Stream`) are dropped."""
    headers = {k: v for k, v in letter.headers.items() if not k.startswith((PREFIX, NATS_PREFIX))}
    original_id = letter.headers.get(ORIGINAL_MSG_ID_HEADER)
    base = f"{original_id}:" if original_id else ""
    return headers | {MSG_ID_HEADER: f"{base}replay:{letter.id}"}
