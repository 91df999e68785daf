"""Item 3 for the projector, on the real stack (PostgreSQL, nats-server, relay and projector processes).

An event row no projection can decode is retried a bounded number of times, dead-lettered with its
position, and every projection goes on past it; a forged wake-up on `stitchd.events.>` (a position the
store does not have, or no digits at all) is dead-lettered and stalls nothing. Replay re-applies the
event once its cause is fixed.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import nats
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.json import encode
from nats.js import JetStreamContext

from commands.postgres_store import APPEND_LOCK_KEY, NOTIFY_CHANNEL
from domain.tenancy.events import OrgCreated
from projections.registry import PROJECTIONS
from readmodels.positions import parse_event_position
from schemas.dead_letters import DeadLetter
from stitchd import dlq
from tests.integration.projections.tenancy import Tenancy
from tests.metrics_support import metrics_on, scraped
from tests.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def js(stack: Stack) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(stack.nats_url)
    yield nc.jetstream()
    await nc.close()


async def append_raw(pg_url: str, type_: str, data: str) -> int:
    """Append a row the way the store does (its lock, its NOTIFY), bypassing the codec: a corrupt row."""
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))
        cur = await conn.execute(
            "INSERT INTO events (position, stream_id, stream_type, version, event_id, type, data, metadata)"
            " SELECT coalesce(max(position), 0) + 1, %s, 'org', 1, %s, %s, %s::jsonb, '{}'::jsonb FROM events"
            " RETURNING position",
            (uuid4(), uuid4(), type_, data),
        )
        row = await cur.fetchone()
        assert row is not None
        await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(row[0])))
        return int(row[0])


async def letters_for(js: JetStreamContext, want: int) -> list[DeadLetter]:
    """The dead letters once there are `want` of them (bounded polling)."""
    found: list[DeadLetter] = []
    for _ in range(600):
        found = [letter for letter, _ in await dlq.dead_letters(js)]
        if len(found) >= want:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(found)} dead letters, expected {want}")


async def rm_org_names(pg_url: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute("SELECT name FROM rm_orgs ORDER BY name")
        return [str(r[0]) for r in await cur.fetchall()]


async def stitchd(*args: str, stack: Stack) -> tuple[int, str, str]:
    env = {**os.environ, "NATS_URL": stack.nats_url, "DATABASE_URL": stack.pg_url,
           "STITCHD_DATA_DIR": str(stack.settings.data_dir)}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stitchd", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.integration
async def test_an_undecodable_event_is_dead_lettered_and_every_projection_goes_on(
    stack: Stack, js: JetStreamContext
) -> None:
    tenancy = Tenancy(stack.store)
    await tenancy.org("before")
    with metrics_on():
        before = scraped("stitchd_ingest_events_total", kind="event", outcome="dead_lettered")
        bad = await append_raw(stack.pg_url, "org.created", '{"name": 5}')
        after = await tenancy.org("after")
        await stack.settle(tenancy.last_position)  # every projection got past the bad row
        counted = scraped("stitchd_ingest_events_total", kind="event", outcome="dead_lettered") - before
    assert counted == len(PROJECTIONS)  # one dead letter per projection, each counted
    found = await letters_for(js, len(PROJECTIONS))
    assert sorted(x.consumer for x in found) == sorted(f"proj_{p.NAME}" for p in PROJECTIONS)
    for letter in found:
        assert (letter.stream, letter.sequence) == (dlq.STORE, bad)
        assert letter.headers["Stitchd-Position"] == str(bad)
        assert letter.subject == "stitchd.events.org._"
        assert "ValidationError" in letter.reason
        assert letter.deliveries >= 2  # retried before it was given up
    assert await rm_org_names(stack.pg_url) == ["after", "before"]
    assert after
    code, out, _ = await stitchd("dlq", "list", "--consumer", "proj_directory", stack=stack)
    assert code == 0
    assert out.endswith("stitchd: 1 dead letter(s)\n")
    # the cause is fixed (an upcaster, a repaired row): replay applies the event after all
    async with await psycopg.AsyncConnection.connect(stack.pg_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT stream_id FROM events WHERE position = %s", (bad,))
        row = await cur.fetchone()
        assert row is not None
        fixed = OrgCreated(stream_id=row[0], version=1, occurred_at=datetime.now(UTC), name="fixed")
        await conn.execute(
            "UPDATE events SET data = %s::jsonb WHERE position = %s", (encode(fixed).decode(), bad)
        )
    code, out, err = await stitchd("dlq", "replay", "--all", stack=stack)
    assert (code, err) == (0, "")
    assert out.endswith(f"stitchd: {len(PROJECTIONS)} of {len(PROJECTIONS)} replayed\n")
    assert await rm_org_names(stack.pg_url) == ["after", "before", "fixed"]
    assert [letter for letter, _ in await dlq.dead_letters(js)] == []


@pytest.mark.integration
async def test_forged_wake_ups_are_dead_lettered_and_stall_nothing(
    stack: Stack, js: JetStreamContext
) -> None:
    tenancy = Tenancy(stack.store)
    await tenancy.org("before")
    await stack.settle(tenancy.last_position)
    for position in ("999999999", "\u00b2", "-1"):  # beyond the head; a digit str.isdigit() accepts; junk
        await js.publish("stitchd.events.org._", b"{}", headers={"Stitchd-Position": position})
    await js.publish("stitchd.events.org._", b"garbage")  # no header at all
    await tenancy.org("after")
    await stack.settle(tenancy.last_position)
    found = await letters_for(js, 4 * len(PROJECTIONS))
    reasons = sorted(x.reason.split(" (head")[0] for x in found if x.consumer == "proj_directory")
    assert reasons == ["no valid Stitchd-Position header: not a store event"] * 3 + [
        "position 999999999 is not in the events table"
    ]
    assert {x.stream for x in found} == {"STITCHD_EVENTS"}
    assert await rm_org_names(stack.pg_url) == ["after", "before"]


@given(st.text(max_size=25) | st.integers(-5, 2**64).map(str))
def test_a_position_header_is_ascii_digits_naming_a_bigint(raw: str) -> None:
    position = parse_event_position(raw)
    valid = re.fullmatch(r"[0-9]{1,18}", raw) is not None and int(raw) > 0
    assert (position is not None) == valid
    assert position is None or position == int(raw)
