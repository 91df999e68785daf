"""Issue 9 item 4: one oversized event must not wedge the outbox relay (and so every read model)."""

from __future__ import annotations

from datetime import UTC, datetime

import nats
import pytest

from commands.encoding import to_new_events
from commands.eventstore import Metadata
from commands.postgres_store import PostgresEventStore
from commands.segments import load_segment
from domain.segments.events import SegmentMembersAdded
from domain.segments.segment import segment_stream
from stitchd.jetstream import EVENTS_STREAM
from tests.integration.gateway.flags_support import BOOL_FLAG, Tenant, ok, tenant_fixture  # noqa: F401
from tests.metrics_support import metrics_on, scraped

pytestmark = pytest.mark.integration


def long_keys(n: int, prefix: str) -> list[str]:
    return [f"{prefix}{i:05d}-" + "k" * 199 for i in range(n)]  # 206 characters, as in the issue


async def included_count(tenant: Tenant, key: str) -> int:
    got = await ok(await tenant.call("GET", f"/v1/environments/{tenant.env}/segments/{key}"))
    return int(got["included_count"])


async def test_a_members_add_of_5000_long_keys_is_split_and_every_read_model_advances(tenant: Tenant) -> None:
    segments = f"/v1/environments/{tenant.env}/segments"
    made = await ok(
        await tenant.call("POST", segments, {"key": "big", "kind": "list", "included_keys": ["u0"]}), 201
    )
    body = {"add": long_keys(5_000, "a"), "version": made["version"]}
    await ok(await tenant.call("POST", f"{segments}/big/members", body))
    # a later write of another kind: the relay must get past the members batch for it to be projected
    created = await tenant.call("POST", tenant.flags(), {**BOOL_FLAG, "key": "after"})
    assert created.status_code == 201, created.text
    await tenant.stack.settle(within=60)
    assert await included_count(tenant, "big") == 5_001
    listed = await ok(await tenant.call("GET", tenant.flags()))
    assert "after" in str(listed)


async def test_an_oversized_event_already_in_the_outbox_does_not_wedge_the_relay(tenant: Tenant) -> None:
    """An event written before the cap existed (here by a store without it) is relayed as a reference:
    the projector reads the body from the store by position, so nothing is lost and later writes flow."""
    segments = f"/v1/environments/{tenant.env}/segments"
    await ok(
        await tenant.call("POST", segments, {"key": "old", "kind": "list", "included_keys": ["u0"]}), 201
    )
    await tenant.stack.settle()
    segment = await load_segment(tenant.stack.store, tenant.env, "old")
    assert segment is not None
    huge = SegmentMembersAdded(
        stream_id=segment.id,
        version=segment.version + 1,
        occurred_at=datetime.now(UTC),
        included=tuple(long_keys(12_000, "b")),  # about 2.5 MB: over NATS' 2 MiB max_payload
    )
    uncapped = PostgresEventStore(tenant.stack.store.pool, max_event_bytes=64 * 1_048_576)
    meta = Metadata(
        actor="legacy", org_id=tenant.org_id, project_id=tenant.project_id, environment_id=tenant.env
    )
    written = await uncapped.append(
        segment_stream(tenant.env, "old"), "segment", segment.version, to_new_events([huge]), metadata=meta
    )
    late = {"add": ["late"], "version": written.version}
    with metrics_on():
        before = scraped("stitchd_relay_unpublishable_events_total")
        await ok(await tenant.call("POST", f"{segments}/old/members", late))
        await tenant.stack.settle(within=60)
        assert scraped("stitchd_relay_unpublishable_events_total") - before == 1
    assert await included_count(tenant, "old") == 12_002
    nc = await nats.connect(tenant.stack.nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(EVENTS_STREAM)
        messages = [await js.get_msg(EVENTS_STREAM, seq=s) for s in range(1, info.state.last_seq + 1)]
    finally:
        await nc.close()
    [reference] = [
        m for m in messages if (m.headers or {}).get("Stitchd-Position") == str(written.last_position)
    ]
    assert (reference.headers or {}).get("Stitchd-Body") == "omitted"
