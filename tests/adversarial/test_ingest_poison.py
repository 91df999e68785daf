"""Items 3 and 12 for the stats worker's ingest consumer, on real nats-server and chdb.

Whoever can publish on `stitchd.ingest.>` (or a bug upstream) sends garbage, numbers no column can hold,
rows ClickHouse refuses: the consumer dead-letters exactly those, with reasons, stores everything else,
and its loop goes on. Dead letters can be listed and replayed (`stitchd dlq`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext

from schemas import ingest
from schemas.dead_letters import DeadLetter
from schemas.ingest import INGEST_STREAM, SUBJECT_FILTER, ExposureMsg, MetricEventMsg
from stats_worker import stranded
from stats_worker.clickhouse_schema import ensure_schema
from stats_worker.consumer import ConsumerSettings, IngestConsumer, consumer_config
from stats_worker.sink import ClickHouseSink
from stitchd import dlq
from tests.metrics_support import metrics_on, scraped

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 400  # bounded polling (a broken consumer fails the test instead of hanging it); never timed


def metric(i: int, env: str = "env-a", *, event_id: str | None = None, key: str = "u") -> MetricEventMsg:
    return MetricEventMsg(
        event_id=event_id or f"m-{i}", environment_id=env, metric_key="revenue", context_type="user",
        context_key=f"{key}{i}", value=float(i), timestamp_ms=1_700_000_000_000 + i, received_at_ms=1,
    )  # fmt: skip


async def publish(js: JetStreamContext, msgs: Sequence[ingest.IngestMsg]) -> None:
    for m in msgs:
        msg_id = f"{m.environment_id}:{ingest.kind_of(m)}:{m.event_id}"
        await js.publish(ingest.subject_for(m), ingest.encode(m), headers={"Nats-Msg-Id": msg_id})


def settings(durable: str, *, max_deliver: int = 10) -> ConsumerSettings:
    config = consumer_config(durable=durable, ack_wait=2.0, max_deliver=max_deliver)
    return ConsumerSettings(
        batch_size=100, fetch_timeout=0.2, retry_delay=0.05, max_retry_delay=0.2, config=config
    )


def stored_ids(client: Any, db: str, table: str = "metric_events") -> list[tuple[str, str]]:
    rows = client.query(f"SELECT environment_id, event_id FROM {db}.{table} FINAL ORDER BY 1, 2").result_rows
    return [(str(env), str(eid)) for env, eid in rows]


async def letters(js: JetStreamContext) -> list[DeadLetter]:
    return [letter for letter, _ in await dlq.dead_letters(js)]


@contextlib.asynccontextmanager
async def running(consumer: IngestConsumer) -> AsyncIterator[asyncio.Task[None]]:
    """The consumer's real loop in a task; at the end it must still be running (it never exits)."""
    task = asyncio.create_task(consumer.run())
    try:
        yield task
        assert not task.done()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.close()


async def until(check: Any) -> None:
    for _ in range(ROUNDS):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never held")


def _body(**fields: object) -> bytes:
    """A hand-written JSON body (NaN and 400-digit integers included, as a raw publisher may send)."""
    return ("{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}").encode()


_METRIC = {"environment_id": '"env-a"', "metric_key": '"revenue"', "context_type": '"user"',
           "context_key": '"u"', "timestamp_ms": 1, "received_at_ms": 1}  # fmt: skip
_EXPOSURE = {"environment_id": '"env-a"', "flag_key": '"f"', "variant_key": '"on"', "context_type": '"user"',
             "context_key": '"u"', "timestamp_ms": 1}  # fmt: skip
POISON = [
    ("metric", b"\xff\xfe not json"),
    ("metric", _body(event_id='"big"', value="9" * 400, **_METRIC)),
    ("metric", _body(event_id='"nan"', value="NaN", **_METRIC)),
    ("exposure", _body(event_id='"seq"', sequence=2**63, **_EXPOSURE)),
    ("metric", b'{"event_id": "half"}'),
]


async def test_poison_published_around_the_gateway_is_dead_lettered_and_the_worker_goes_on(
    nats_js: JetStreamContext, chdb_client: Any, ch_database: str
) -> None:
    ensure_schema(chdb_client, ch_database)
    await publish(nats_js, [metric(i) for i in range(5)])
    for n, (kind, body) in enumerate(POISON):
        await nats_js.publish(f"stitchd.ingest.env-a.{kind}", body, headers={"Nats-Msg-Id": f"poison-{n}"})
    await publish(nats_js, [metric(i) for i in range(5, 10)])
    consumer = IngestConsumer(nats_js, ClickHouseSink(chdb_client, ch_database), settings("poison"))
    name = "stitchd_ingest_events_total"
    with metrics_on():
        before = {k: scraped(name, kind=k, outcome="dead_lettered") for k in ("metric", "exposure")}
        async with running(consumer):
            await until(lambda: _holds(nats_js, chdb_client, ch_database, 10, len(POISON)))
            await publish(nats_js, [metric(10)])  # and it still takes more afterwards
            await until(lambda: _holds(nats_js, chdb_client, ch_database, 11, len(POISON)))
        counted = {k: scraped(name, kind=k, outcome="dead_lettered") - before[k] for k in before}
    assert counted == {k: sum(1 for kind, _ in POISON if kind == k) for k in before}
    found = await letters(nats_js)
    assert [(x.subject, x.consumer) for x in found] == [
        (f"stitchd.ingest.env-a.{k}", "poison") for k, _ in POISON
    ]
    assert all(x.reason.startswith("undecodable: ") for x in found)
    assert [x.headers["Stitchd-Dlq-Msg-Id"] for x in found] == [f"poison-{n}" for n in range(len(POISON))]
    assert all(x.stream == INGEST_STREAM and x.sequence > 0 and x.deliveries == 1 for x in found)
    assert consumer.dead_lettered == len(POISON)
    info = await nats_js.consumer_info(INGEST_STREAM, "poison")
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


async def _holds(js: JetStreamContext, client: Any, db: str, rows: int, dead: int) -> bool:
    return len(stored_ids(client, db)) == rows and len(await letters(js)) == dead


async def test_a_row_clickhouse_refuses_fails_alone_and_is_replayed_once_fixed(
    nats_js: JetStreamContext, chdb_client: Any, ch_database: str, nats_url: str, tmp_path: Path
) -> None:
    ensure_schema(chdb_client, ch_database)
    table = f"{ch_database}.metric_events"
    chdb_client.command(f"ALTER TABLE {table} ADD CONSTRAINT no_poison CHECK context_key != 'poison7'")
    batch = [metric(i, key="poison" if i == 7 else "u") for i in range(20)]
    await publish(nats_js, batch)
    consumer = IngestConsumer(nats_js, ClickHouseSink(chdb_client, ch_database), settings("refused"))
    async with running(consumer):
        await until(lambda: _holds(nats_js, chdb_client, ch_database, 19, 1))
        [letter] = await letters(nats_js)
        assert letter.reason.startswith("refused by ClickHouse: ")
        assert "VIOLATED_CONSTRAINT" in letter.reason
        assert letter.subject == "stitchd.ingest.env-a.metric"
        chdb_client.command(f"ALTER TABLE {table} DROP CONSTRAINT no_poison")  # the fix
        code, out, _ = await stitchd("dlq", "list", nats_url=nats_url, data_dir=tmp_path)
        assert code == 0
        assert out.splitlines()[0].startswith(f"{letter.id}\t")
        assert "refused\tstitchd.ingest.env-a.metric" in out
        replay = ("dlq", "replay", "--id", str(letter.id))
        replayed = await stitchd(*replay, nats_url=nats_url, data_dir=tmp_path)
        assert replayed == (
            0, f"stitchd: replayed dead letter {letter.id} (refused stitchd.ingest.env-a.metric)\n"
               "stitchd: 1 of 1 replayed\n", "",
        )  # fmt: skip
        await until(lambda: _holds(nats_js, chdb_client, ch_database, 20, 0))
    assert stored_ids(chdb_client, ch_database) == sorted(("env-a", m.event_id) for m in batch)


async def stitchd(*args: str, nats_url: str, data_dir: Path) -> tuple[int, str, str]:
    env = {**os.environ, "NATS_URL": nats_url, "STITCHD_DATA_DIR": str(data_dir)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stitchd", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class FailingOnce:
    """A sink with a bug that fires once (an exception nobody planned for), then works."""

    def __init__(self, inner: ClickHouseSink) -> None:
        self.inner = inner
        self.failed = False

    def insert(self, metrics: Sequence[MetricEventMsg], exposures: Sequence[ExposureMsg]) -> None:
        if not self.failed:
            self.failed = True
            raise KeyError("a bug")
        self.inner.insert(metrics, exposures)


async def test_an_unexpected_error_is_logged_and_the_loop_goes_on(
    nats_js: JetStreamContext, chdb_client: Any, ch_database: str
) -> None:
    ensure_schema(chdb_client, ch_database)
    await publish(nats_js, [metric(i) for i in range(5)])
    sink = FailingOnce(ClickHouseSink(chdb_client, ch_database))
    async with running(IngestConsumer(nats_js, sink, settings("bug"))):
        await until(lambda: _holds(nats_js, chdb_client, ch_database, 5, 0))
    assert sink.failed


async def test_a_store_that_refuses_everything_dead_letters_on_the_last_delivery(
    nats_js: JetStreamContext, chdb_client: Any, ch_database: str
) -> None:
    """No table at all: every try counts towards max_deliver, and nothing is silently stranded."""
    ensure_schema(chdb_client, ch_database)
    await publish(nats_js, [metric(i) for i in range(3)])
    sink = ClickHouseSink(chdb_client, f"{ch_database}_missing")
    async with running(IngestConsumer(nats_js, sink, settings("no-table", max_deliver=3))):
        await until(lambda: _holds(nats_js, chdb_client, ch_database, 0, 3))
    found = await letters(nats_js)
    assert all(x.reason.startswith("refused by ClickHouse on its last delivery: ") for x in found)
    assert [x.deliveries for x in found] == [3, 3, 3]


async def test_two_tenants_with_the_same_client_event_id_in_one_fetch_both_land(
    nats_js: JetStreamContext, chdb_client: Any, ch_database: str
) -> None:
    """Item 12: the batch de-duplicates by (environment, kind, key, event id), not by event id."""
    ensure_schema(chdb_client, ch_database)
    await publish(
        nats_js, [metric(1, "env-a", event_id="order-1001"), metric(2, "env-b", event_id="order-1001")]
    )
    consumer = IngestConsumer(nats_js, ClickHouseSink(chdb_client, ch_database), settings("tenants"))
    try:
        assert await consumer.process_once() == 2  # one fetch holds both
    finally:
        await consumer.close()
    assert stored_ids(chdb_client, ch_database) == [("env-a", "order-1001"), ("env-b", "order-1001")]


async def test_an_existing_durable_with_unlimited_redelivery_is_given_the_bound(
    nats_js: JetStreamContext,
) -> None:
    await nats_js.add_consumer(INGEST_STREAM, consumer_config(durable="old", max_deliver=-1))
    consumer = IngestConsumer(nats_js, ClickHouseSink(None, "unused"), settings("old"))  # type: ignore[arg-type]
    try:
        await consumer.process_once()
    finally:
        await consumer.close()
    assert (await nats_js.consumer_info(INGEST_STREAM, "old")).config.max_deliver == 10


def test_dead_letter_headers_are_json_safe() -> None:
    """The reason survives as one header line whatever the error said."""
    from schemas.dead_letters import Original, dead_letter_headers

    headers = dead_letter_headers(Original(subject="s"), consumer="c", reason="a\r\nb" + "x" * 900, at_ms=1)
    assert "\n" not in headers["Stitchd-Dlq-Reason"]
    assert len(headers["Stitchd-Dlq-Reason"]) <= 500
    json.dumps(headers)


async def test_a_message_jetstream_gives_up_on_is_dead_lettered_not_dropped(
    nats_js: JetStreamContext, nats_url: str
) -> None:
    """A worker that dies on a message every time: after max_deliver JetStream stops delivering it, and the
    advisory it sends puts the message in STITCHD_DLQ."""
    import nats

    nc = await nats.connect(nats_url)
    listening = await stranded.follow(nc, nc.jetstream(), stream=INGEST_STREAM, consumer="crashy")
    try:
        await nats_js.add_consumer(
            INGEST_STREAM, consumer_config(durable="crashy", ack_wait=0.3, max_deliver=2)
        )
        await publish(nats_js, [metric(1)])
        sub = await nats_js.pull_subscribe(SUBJECT_FILTER, durable="crashy", stream=INGEST_STREAM)
        taken = 0
        for _ in range(ROUNDS):  # fetch and never ack: a worker crashing on it, again and again
            with contextlib.suppress(TimeoutError):
                taken += len(await sub.fetch(1, timeout=0.2))
            if await letters(nats_js):
                break
        [letter] = await letters(nats_js)
        assert taken == 2
        assert letter.consumer == "crashy"
        assert letter.subject == "stitchd.ingest.env-a.metric"
        assert (letter.stream, letter.sequence, letter.deliveries) == (INGEST_STREAM, 1, 2)
        assert letter.reason.startswith("JetStream gave up after 2 deliveries")
        await sub.unsubscribe()
    finally:
        await listening.unsubscribe()
        await nc.close()
