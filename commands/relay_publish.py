"""Publishing one event for the relay: one attempt at a time, and the policy for an unpublishable event.

An event too large for the server's max_payload (one stored before the store capped events, or a server
configured lower) is published as a reference without its body (`domain.envelope.reference_message`),
with an error log and `RelayStats.oversized`: every consumer reads bodies from the event store by
position, so nothing is lost and the relay neither stops nor retries it forever (docs/messaging.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import nats.errors
from nats.js import JetStreamContext

from commands.event_size import fits
from commands.eventstore import RecordedEvent
from domain.envelope import BODY_HEADER, encode_envelope, envelope_headers, reference_message
from telemetry import metrics

log = logging.getLogger("stitchd.relay")


@dataclass
class RelayStats:
    """What the relay has done so far (for logs, tests and health checks)."""

    leader: bool = False
    cursor: int = 0
    published: int = 0
    duplicates: int = 0
    publish_failures: int = 0
    lead_changes: int = 0
    oversized: int = 0  # events too large for NATS, published as references without their body


class PublishAttempt:
    """The message for one event, and `once()` to try publishing it."""

    def __init__(
        self,
        js: JetStreamContext,
        event: RecordedEvent,
        subject: str,
        stream: str,
        max_payload: int,
        stats: RelayStats,
    ) -> None:
        self._js, self._event, self._subject, self._stream = js, event, subject, stream
        self._max_payload = max_payload
        self._stats = stats
        self.body, self.headers = encode_envelope(event), envelope_headers(event)
        if not fits(len(self.body), max_payload):
            self._use_reference()

    async def once(self) -> bool:
        """Publish; True once acknowledged, False after a failure (logged and counted; retry later)."""
        try:
            ack = await self._js.publish(
                self._subject, self.body, stream=self._stream, headers=dict(self.headers)
            )
        except nats.errors.MaxPayloadError as exc:
            if BODY_HEADER not in self.headers:  # the server's limit is lower than it announced
                self._use_reference()
                return await self.once()
            self._failed(exc)  # even the reference does not fit: a misconfigured server
            return False
        except (TimeoutError, nats.errors.Error) as exc:
            self._failed(exc)
            return False
        self._stats.published += 1
        self._stats.duplicates += bool(ack.duplicate)
        return True

    def _failed(self, exc: Exception) -> None:
        self._stats.publish_failures += 1
        log.warning("publish of position %d failed (%r); retrying", self._event.position, exc)

    def _use_reference(self) -> None:
        self._stats.oversized += 1
        metrics.count_relay_unpublishable()
        log.error(
            "event at position %d (%s) is %d bytes, over NATS max_payload %d: published without its body;"
            " consumers read it from the event store",
            self._event.position,
            self._event.type,
            len(self.body),
            self._max_payload,
        )
        self.body, self.headers = reference_message(self._event)
