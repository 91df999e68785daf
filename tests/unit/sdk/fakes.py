"""Fakes of the layer below the SDK: a scripted FlagSyncService on a real grpclib server, a fake REST gateway.

The gRPC fake runs on its own event loop in a thread, so synchronous `SdkClient` tests (which block the
calling thread) and asyncio tests can both drive it. Every connection becomes a `Session` whose
messages the test pushes; each session records its request and metadata.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import grpclib.const
import grpclib.server
import httpx
import msgspec
from grpclib.exceptions import GRPCError

from domain.conditions.ast import Attribute, Condition, Leaf, Op
from domain.flags.model import FlagConfig, FlagDefinition, ListSegmentMeta, Rule, Serve, ValueType, Variant
from schemas.flag_wire import flag_to_proto, list_segment_meta_to_proto
from schemas.generated.stitchd.flags import v1 as flags_pb
from stitchd.embedded import free_port

SDK_KEY = "sdk_live_test-key"
PROJECT = UUID(int=1)
ENV = UUID(int=2)
END = object()  # pushed to a session: end the stream normally


@dataclass
class Session:
    """One SyncDefinitions stream as the fake server sees it."""

    request: flags_pb.SyncRequest
    metadata: dict[str, str]
    loop: asyncio.AbstractEventLoop
    transport: Any = None  # the HTTP/2 connection's socket transport, closed to simulate a crash
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    def push(self, *items: flags_pb.SyncResponse | GRPCError | object) -> None:
        """Send messages (or END, or an error to raise) on this stream; callable from any thread."""
        for item in items:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class FakeSyncService:
    """Answers SyncDefinitions: refuses a wrong key, else sends `on_connect(request)` then pushed items."""

    def __init__(self, on_connect: Callable[[flags_pb.SyncRequest], Iterable[flags_pb.SyncResponse]]) -> None:
        self.on_connect = on_connect
        self.sessions: list[Session] = []
        self.key_revoked = False  # then every stream is refused as the real broadcaster refuses a revoked key
        self.refusals = 0

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        return {
            "/stitchd.flags.v1.FlagSyncService/SyncDefinitions": grpclib.const.Handler(
                self._sync_definitions,
                grpclib.const.Cardinality.UNARY_STREAM,
                flags_pb.SyncRequest,
                flags_pb.SyncResponse,
            )
        }

    async def _sync_definitions(self, stream: Any) -> None:
        request = await stream.recv_message()
        metadata = {str(k): str(v) for k, v in stream.metadata.items()}
        if metadata.get("x-sdk-key") != SDK_KEY or self.key_revoked:
            self.refusals += 1
            raise GRPCError(grpclib.const.Status.UNAUTHENTICATED, "unknown sdk key")
        session = Session(request, metadata, asyncio.get_running_loop(), stream._stream._transport)
        self.sessions.append(session)
        for msg in self.on_connect(request):
            await stream.send_message(msg)
        while (item := await session.queue.get()) is not END:
            if isinstance(item, GRPCError):
                raise item
            await stream.send_message(item)


class ServerThread:
    """A grpclib Server for `service` on a free port, on a private loop in a daemon thread."""

    def __init__(self, service: FakeSyncService) -> None:
        self.service = service
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: grpclib.server.Server | None = None

    def start(self) -> ServerThread:
        """Start serving (blocks until listening)."""
        if not self._thread.is_alive():
            self._thread.start()
        self._server = self._run(self._serve())
        return self

    async def _serve(self) -> grpclib.server.Server:
        server = grpclib.server.Server([self.service])  # binds to the running (the thread's) loop
        await server.start("127.0.0.1", self.port)
        return server

    def stop(self) -> None:
        """Stop serving and drop every connection, like a process exit (`start` may follow)."""
        server = self._server
        if server is not None:
            self._run(self._close(server))
            self._server = None

    async def _close(self, server: grpclib.server.Server) -> None:
        for session in self.service.sessions:
            session.transport.close()
        server.close()
        # Python 3.11's Server.wait_closed may wait on HTTP/2 connections the client side already dropped.
        with suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1.0)

    def shutdown(self) -> None:
        """Stop and end the thread."""
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)


def wait_until(predicate: Callable[[], bool], within: float = 20.0) -> None:
    """Poll until `predicate()` holds; a liveness bound, not a timing assertion."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


async def eventually(predicate: Callable[[], bool], within: float = 20.0) -> None:
    """Async twin of `wait_until`."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


class FakeGateway:
    """The REST side: list-checks from `members`, batches recorded; `fail_next` scripts status codes."""

    def __init__(self) -> None:
        self.members: set[tuple[str, str, str]] = set()
        self.requests: list[tuple[str, Any]] = []
        self.fail_next: list[int] = []
        self.known_metrics: set[str] | None = None  # None: every metric key is registered
        self._lock = threading.Lock()
        self.transport = httpx.MockTransport(self._handle)

    def calls(self, tail: str) -> list[Any]:
        """Bodies posted to routes ending in `tail`."""
        with self._lock:
            return [body for path, body in self.requests if path.endswith(tail)]

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-sdk-key") != SDK_KEY:
            return httpx.Response(401, json={"error": "sdk key not found", "code": "UNAUTHENTICATED"})
        body = msgspec.json.decode(request.content)
        with self._lock:
            self.requests.append((request.url.path, body))
            status = self.fail_next.pop(0) if self.fail_next else 200
        if status != 200:
            return httpx.Response(status, json={"error": "scripted", "code": "UNAVAILABLE"})
        return httpx.Response(200, json=self._answer(request.url.path, body))

    def _answer(self, path: str, body: Any) -> Any:
        if path.endswith("/segments/list-check"):
            return {"is_member": self._member(body)}
        if path.endswith("/segments/batch-list-check"):
            return {"results": [{**check, "is_member": self._member(check)} for check in body["checks"]]}
        if path.endswith("/events/batch") and self.known_metrics is not None:
            refused = sorted({e["metric_key"] for e in body["events"]} - self.known_metrics)
            accepted = [e for e in body["events"] if e["metric_key"] not in refused]
            return {"accepted_count": len(accepted), "rejected_keys": refused}
        return {"accepted_count": len(next(iter(body.values()))), "rejected_keys": []}

    def _member(self, check: dict[str, str]) -> bool:
        return (check["segment_key"], check["context_type"], check["context_key"]) in self.members


def bool_flag(key: str, condition: Condition | None = None, *, enabled: bool = True) -> FlagDefinition:
    """A bool flag serving "on" (true) when `condition` holds, else "off" (false)."""
    rules = () if condition is None else (Rule(id="r1", condition=condition, serve=Serve(variant_key="on")),)
    return FlagDefinition(
        key=key,
        project_id=PROJECT,
        environment_id=ENV,
        value_type=ValueType.BOOL,
        variants=(Variant(key="on", value=True), Variant(key="off", value=False)),
        config=FlagConfig(
            enabled=enabled, off_variant="off", fallthrough=Serve(variant_key="off"), rules=rules
        ),
    )


def string_flag(key: str, value: str) -> FlagDefinition:
    """A string flag always serving `value`."""
    return FlagDefinition(
        key=key,
        project_id=PROJECT,
        environment_id=ENV,
        value_type=ValueType.STRING,
        variants=(Variant(key="v", value=value),),
        config=FlagConfig(enabled=True, off_variant="v", fallthrough=Serve(variant_key="v")),
    )


def in_list(segment_key: str) -> Leaf:
    """`user` is in the list segment."""
    return Leaf(Attribute("user"), Op.IN_SEGMENT, segment_key)


def plan_is(plan: str) -> Leaf:
    """The user's plan parameter equals `plan`."""
    return Leaf(Attribute("user", "plan"), Op.EQ, plan)


BETA = ListSegmentMeta(id=UUID(int=3), key="beta", context_type="user")


def snapshot(
    sequence: int, *flags: FlagDefinition, lists: Iterable[ListSegmentMeta] = ()
) -> flags_pb.SyncResponse:
    """A full snapshot at `sequence`."""
    return flags_pb.SyncResponse(
        flags=[flag_to_proto(f) for f in flags],
        list_segments=[list_segment_meta_to_proto(m) for m in lists],
        environment_id=str(ENV),
        sequence_number=sequence,
        is_snapshot=True,
    )


def delta(sequence: int, *flags: FlagDefinition, **fields: Any) -> flags_pb.SyncResponse:
    """An incremental message at `sequence` (extra SyncResponse fields by keyword)."""
    return flags_pb.SyncResponse(
        flags=[flag_to_proto(f) for f in flags], environment_id=str(ENV), sequence_number=sequence, **fields
    )


def heartbeat(sequence: int) -> flags_pb.SyncResponse:
    """An idle-stream heartbeat."""
    return flags_pb.SyncResponse(environment_id=str(ENV), sequence_number=sequence, is_heartbeat=True)
