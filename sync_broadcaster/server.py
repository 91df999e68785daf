"""The gRPC server with a configured HTTP/2 stream limit per connection (SETTINGS_MAX_CONCURRENT_STREAMS).

An SDK opens one stream per client, but an edge process or a large service multiplexes many over one
connection; grpclib leaves h2's default of 100. The limit is announced in the server's SETTINGS right
after the connection preface; h2 refuses streams beyond it (REFUSED_STREAM) once the client has
acknowledged, and well-behaved clients queue instead of opening more.
"""

from __future__ import annotations

from asyncio import BaseTransport
from collections.abc import Collection
from typing import Any

from grpclib.protocol import H2Protocol
from grpclib.server import Server
from h2.settings import SettingCodes

DEFAULT_MAX_CONCURRENT_STREAMS = 100


class _LimitedProtocol(H2Protocol):
    def __init__(self, base: H2Protocol, max_streams: int) -> None:
        super().__init__(base.handler, base.config, base.h2_config)
        self.max_streams = max_streams

    def connection_made(self, transport: BaseTransport) -> None:
        super().connection_made(transport)
        # grpclib keeps the h2 state machine private; SETTINGS frames are part of its public API.
        h2_connection = self.connection._connection
        h2_connection.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams})
        self.connection.flush()


class SyncServer(Server):
    """grpclib's Server announcing `max_concurrent_streams` to every connection."""

    def __init__(
        self,
        handlers: Collection[Any],
        *,
        codec: Any,
        max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS,
    ) -> None:
        if max_concurrent_streams < 1:
            raise ValueError("max_concurrent_streams must be at least 1")
        super().__init__(handlers, codec=codec)
        self.max_concurrent_streams = max_concurrent_streams

    def _protocol_factory(self) -> H2Protocol:
        return _LimitedProtocol(super()._protocol_factory(), self.max_concurrent_streams)
