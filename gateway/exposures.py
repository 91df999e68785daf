"""JetStream publishing of ingest messages (also the evaluate route's ExposureSink) and the SDKs'
POST /v1/environments/{env_id}/exposures/batch.

Each message goes to `stitchd.ingest.<env>.<kind>` with `Nats-Msg-Id` = `<env>:<kind>:<event_id>`: the
event id scoped by environment and kind, so two tenants' client-chosen ids can never suppress each
other inside the stream's duplicate window. A batch is published without waiting message by message
(`publish_async`), then every ack is awaited together; a missing ack within `ack_timeout` is 502.
An SDK exposure without an `event_id` gets a deterministic one (uuid5 of its fields), so an SDK that
re-sends a batch after a lost answer records nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Final
from uuid import UUID, uuid5

import nats
import nats.errors
from litestar import Controller, post
from litestar.params import FromPath, JSONBody
from nats.js import JetStreamContext
from nats.js.api import PubAck

from gateway.auth.guards import SDK_KEY_OR_BEARER
from gateway.errors import Unavailable
from gateway.ingest import AnyRequest, ingest_environment, now_ms, publisher_of
from schemas.http_ingest import ExposureBatchBody, ExposureBody, ExposureResult
from schemas.ingest import ExposureMsg, IngestMsg, encode, kind_of, subject_for
from telemetry import metrics

MSG_ID_HEADER: Final = "Nats-Msg-Id"
EXPOSURE_NAMESPACE: Final = UUID("6f1c1c8e-4b7a-4d0e-9a51-3f0f8c2b7e11")
DEFAULT_ACK_TIMEOUT: Final = 5.0


def msg_id(msg: IngestMsg) -> str:
    """The JetStream de-duplication id of a message."""
    return f"{msg.environment_id}:{kind_of(msg)}:{msg.event_id}"


def exposure_id(environment_id: UUID, e: ExposureBody, timestamp_ms: int) -> str:
    """The client's id, else one derived from every field (a re-sent exposure keeps its id)."""
    if e.event_id is not None:
        return e.event_id
    fields = (e.flag_key, e.variant_key, e.context_type, e.context_key, e.sequence, timestamp_ms)
    return uuid5(EXPOSURE_NAMESPACE, f"{environment_id}|" + "|".join(map(str, fields))).hex


def exposure_messages(
    environment_id: UUID, bodies: Sequence[ExposureBody], received_ms: int
) -> list[ExposureMsg]:
    """The wire messages of an SDK's exposures (missing timestamps become the receive time)."""
    out = []
    for e in bodies:
        ts = received_ms if e.timestamp_ms is None else e.timestamp_ms
        out.append(
            ExposureMsg(
                event_id=exposure_id(environment_id, e, ts),
                environment_id=str(environment_id),
                flag_key=e.flag_key,
                variant_key=e.variant_key,
                context_type=e.context_type,
                context_key=e.context_key,
                sequence=e.sequence,
                timestamp_ms=ts,
            )
        )
    return out


class JetStreamIngest:
    """IngestPublisher and ExposureSink over one JetStream context."""

    def __init__(self, js: JetStreamContext, *, ack_timeout: float = DEFAULT_ACK_TIMEOUT) -> None:
        self._js = js
        self._ack_timeout = ack_timeout
        # nats-py sets up its async-ack inbox on the first publish_async; concurrent first calls race.
        self._sending = asyncio.Lock()

    async def publish(self, messages: Sequence[IngestMsg]) -> None:
        """Publish all, then wait for every ack; raises Unavailable (502) when JetStream does not ack."""
        if not messages:
            return
        pending: list[asyncio.Future[PubAck]] = []
        try:
            async with asyncio.timeout(self._ack_timeout):
                async with self._sending:
                    for m in messages:
                        headers = {MSG_ID_HEADER: msg_id(m)}
                        pending.append(
                            await self._js.publish_async(subject_for(m), encode(m), headers=headers)
                        )
                await asyncio.gather(*pending)
        except TimeoutError:
            raise Unavailable("JetStream did not acknowledge the events in time; retry") from None
        except nats.errors.Error as exc:
            raise Unavailable(f"JetStream refused the events ({type(exc).__name__}); retry") from None
        finally:
            for future in pending:  # nats-py keeps unanswered futures until they are done
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # mark retrieved: gather already reported the first error

    async def ping(self) -> None:
        """Raises unless JetStream answers (the gateway's readiness probe)."""
        await self._js.account_info()

    async def record(self, exposure: ExposureMsg) -> None:
        """ExposureSink: publish one server-side exposure."""
        await self.publish([exposure])


class ExposureController(Controller):
    path = "/v1/environments/{env_id:uuid}"
    tags = ["ingest"]
    security = SDK_KEY_OR_BEARER

    @post("/exposures/batch", status_code=200)
    async def ingest_exposures(
        self, request: AnyRequest, env_id: FromPath[UUID], data: JSONBody[ExposureBatchBody]
    ) -> ExposureResult:
        """Record exposures of an SDK's in-process evaluations; answers after JetStream acknowledged them."""
        await ingest_environment(request, env_id)
        messages = exposure_messages(env_id, data.exposures, now_ms())
        await publisher_of(request).publish(messages)
        metrics.count_ingest("exposure", "accepted", len(messages))
        return ExposureResult(accepted_count=len(messages))


@asynccontextmanager
async def jetstream_ingest(
    nats_url: str, *, ack_timeout: float = DEFAULT_ACK_TIMEOUT
) -> AsyncIterator[JetStreamIngest]:
    """A publisher on its own NATS connection for the block (reconnecting forever; drained at the end)."""
    nc = await nats.connect(nats_url, max_reconnect_attempts=-1)
    try:
        yield JetStreamIngest(nc.jetstream(), ack_timeout=ack_timeout)
    finally:
        try:
            await nc.drain()
        except nats.errors.Error:
            # Draining needs a live connection; when the server is already gone, just close.
            await nc.close()
