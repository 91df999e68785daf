"""The SDK's definitions on disk: the bootstrap / offline file and the durable cache (docs/sdk.md).

Both are definitions documents (schemas/definitions_document.py). The cache file is named and
stamped by `cache_key_hash(sdk_key)`, a hash of the key under its own label (never the key, and not
the hash the platform stores), and is written atomically (a temporary file in the same directory,
fsynced, then renamed over the old one) after applied changes, at most one write at a time, the last
state winning. A file that is unreadable, corrupt, too large, of another format version, another
environment or another key is ignored with a log line: never trusted, never fatal.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path

from schemas.definitions_document import DocumentError, decode_document, encode_document
from schemas.flag_wire import flag_to_proto, list_segment_meta_to_proto, rule_segment_to_proto
from schemas.generated.stitchd.flags import v1 as flags_pb
from stitchd_sdk.store import Definitions, DefinitionStore
from stitchd_sdk.types import SdkOptions

log = logging.getLogger("stitchd_sdk")
_CACHE_LABEL = b"stitchd-sdk-cache\x00"


def cache_key_hash(sdk_key: str) -> str:
    """Names a cache file's key without storing it (and unlike the platform's own key hash)."""
    return hashlib.sha256(_CACHE_LABEL + sdk_key.encode()).hexdigest()


def cache_file(cache_dir: str, sdk_key: str) -> Path:
    """The cache file of one SDK key in `cache_dir`."""
    return Path(cache_dir) / f"definitions-{cache_key_hash(sdk_key)[:32]}.json"


def snapshot_of(current: Definitions) -> flags_pb.SyncResponse:
    """The snapshot message that rebuilds `current` (what the store applied, re-encoded)."""
    return flags_pb.SyncResponse(
        flags=[flag_to_proto(f.definition) for f in current.flags.values()],
        rule_segments=[rule_segment_to_proto(s) for s in current.rule_segments.values()],
        list_segments=[list_segment_meta_to_proto(s) for s in current.list_segments.values()],
        environment_id=current.environment_id,
        sequence_number=current.sequence,
        is_snapshot=True,
    )


def read_document(
    path: Path, *, max_bytes: int, environment_id: str | None = None, sdk_key_hash: str | None = None
) -> flags_pb.SyncResponse | None:
    """The snapshot a document file holds, or None (logged) when it is missing or not to be trusted."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
        _, snapshot = decode_document(
            raw, max_bytes=max_bytes, environment_id=environment_id, sdk_key_hash=sdk_key_hash
        )
    except FileNotFoundError:
        return None
    except (OSError, DocumentError) as exc:
        log.warning("ignoring definitions file %s: %s", path, exc)
        return None
    return snapshot


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def newest_file_snapshot(
    options: SdkOptions, cache_path: Path | None, key_hash: str
) -> flags_pb.SyncResponse | None:
    """The newer of this key's cache and the bootstrap document (which must be of the cache's
    environment, and of `options.environment_id` when set); None when neither can be trusted."""
    bound, environment = options.cache_max_bytes, options.environment_id or None
    cached = None
    if cache_path is not None:
        cached = read_document(cache_path, max_bytes=bound, environment_id=environment, sdk_key_hash=key_hash)
    boot = None
    if options.bootstrap_path is not None:
        expected = environment or (cached.environment_id if cached is not None else None)
        boot = read_document(Path(options.bootstrap_path), max_bytes=bound, environment_id=expected)
    found = [m for m in (cached, boot) if m is not None]
    return max(found, key=lambda m: m.sequence_number, default=None)


class CacheWriter:
    """Writes the store's state to the cache file after changes; one write at a time, coalesced."""

    def __init__(self, store: DefinitionStore, path: Path, key_hash: str, max_bytes: int) -> None:
        self._store = store
        self.path = path
        self._key_hash = key_hash
        self._max_bytes = max_bytes
        self._dirty = asyncio.Event()
        self._writing = asyncio.Lock()  # one write at a time, and a closing client waits for it
        self.written_sequence = -1
        self.failures = 0

    def changed(self) -> None:
        """Something was applied: write when the writer gets to it."""
        self._dirty.set()

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            # shielded: a cancelled writer must not leave its thread replacing the file later
            await asyncio.shield(self.write_now())

    async def write_now(self) -> None:
        """Write the current state unless it is already on disk; failures are logged, counted, survived."""
        async with self._writing:
            await self._write()

    async def _write(self) -> None:
        current = self._store.current
        if not self._store.has_snapshot or current.sequence == self.written_sequence:
            return
        data = encode_document(
            snapshot_of(current), written_at_ms=time.time_ns() // 1_000_000, sdk_key_hash=self._key_hash
        )
        if len(data) > self._max_bytes:
            self.failures += 1
            log.warning(
                "not caching definitions: %d bytes over the %d-byte bound", len(data), self._max_bytes
            )
            return
        try:
            await asyncio.to_thread(write_atomically, self.path, data)
        except OSError as exc:
            self.failures += 1
            log.warning("could not write the definitions cache %s: %s", self.path, exc)
            return
        self.written_sequence = current.sequence
