"""The definitions document: one environment's definitions at one sequence, as a JSON file.

The one document of "what an environment served": answered by `GET /v1/environments/{env}/definitions`
(now or as of a sequence or a time; gateway.definitions_source builds it), written by `stitchd export`
through that same function, read by the SDK at start (offline mode, bootstrap) and used as the SDK's
durable cache (docs/sdk.md). It is the SDK snapshot itself: `flags`, `rule_segments` and
`list_segments` are the snapshot SyncResponse's messages in proto3 JSON (flag_sync.proto), so a
document evaluates exactly as the stream's snapshot at `sequence` does, and it always contains every
segment its flags reference (`segment_references`: flag key -> segment keys, checked on decode).
List-segment memberships are never in it (as on the stream: SDKs ask the gateway's list-check).

    {"format": "stitchd.definitions", "format_version": 1, "environment_id": "...", "sequence": 42,
     "written_at_ms": 1733600000000, "flags": [...], "rule_segments": [...], "list_segments": [...],
     "segment_references": {"checkout": ["beta"]}, "sdk_key_hash": null}

`written_at_ms` is, in the route's and the export's documents, when the change at `sequence` was
recorded (0 before any), so both give the same bytes for the same sequence; an SDK cache file holds
when it was written. `sdk_key_hash` is set in SDK cache files only: a hash naming the key that wrote
it (never the key).
A decoder refuses (DocumentError) anything else: another format or version, another environment or
key than expected, a body over its size bound, messages that are not the snapshot's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, TypeVar
from uuid import UUID

import betterproto
import msgspec

from domain.errors import DomainError
from domain.flags.model import FlagDefinition, ListSegmentMeta, RuleSegment
from domain.flags.validation import segment_refs
from schemas.flag_wire import (
    flag_from_proto,
    flag_to_proto,
    list_segment_meta_to_proto,
    rule_segment_to_proto,
)
from schemas.generated.stitchd.flags import v1 as flags_pb
from schemas.generated.stitchd.segments import v1 as segments_pb
from schemas.wire import WireFormatError

FORMAT: Final = "stitchd.definitions"
FORMAT_VERSION: Final = 1
DEFAULT_MAX_BYTES: Final = 64 << 20
M = TypeVar("M", bound=betterproto.Message)


class DocumentError(ValueError):
    """The bytes are not a definitions document this decoder can trust."""


class DefinitionsDocument(msgspec.Struct, frozen=True, kw_only=True):
    format: str
    format_version: int
    environment_id: str
    sequence: int
    written_at_ms: int = 0
    flags: list[dict[str, Any]] = []
    rule_segments: list[dict[str, Any]] = []
    list_segments: list[dict[str, Any]] = []
    segment_references: dict[str, list[str]] = {}
    sdk_key_hash: str | None = None


def references(snapshot: flags_pb.SyncResponse) -> dict[str, list[str]]:
    """Flag key -> the segment keys its rules name (flags naming none are left out)."""
    found: dict[str, list[str]] = {}
    for msg in snapshot.flags:
        try:
            rules = flag_from_proto(msg).config.rules
            keys = sorted(set().union(*(segment_refs(rule.condition) for rule in rules)))
        except (WireFormatError, DomainError):
            continue  # an undecodable flag is skipped by every reader too
        if keys:
            found[msg.key] = keys
    return found


def snapshot_of_definitions(
    *,
    environment_id: UUID,
    sequence: int,
    flags: Sequence[FlagDefinition],
    rule_segments: Sequence[RuleSegment],
    list_segments: Sequence[ListSegmentMeta],
    server_timestamp_ms: int,
) -> flags_pb.SyncResponse:
    """The snapshot SyncResponse of an environment's definitions (the broadcaster's and the document's)."""
    return flags_pb.SyncResponse(
        flags=[flag_to_proto(f) for f in flags],
        rule_segments=[rule_segment_to_proto(s) for s in rule_segments],
        list_segments=[list_segment_meta_to_proto(s) for s in list_segments],
        environment_id=str(environment_id),
        sequence_number=sequence,
        is_snapshot=True,
        server_timestamp_ms=server_timestamp_ms,
    )


def document_of_snapshot(
    snapshot: flags_pb.SyncResponse, *, written_at_ms: int, sdk_key_hash: str | None = None
) -> DefinitionsDocument:
    """The document of a snapshot SyncResponse (as the broadcaster sends it, or as an SDK holds it)."""
    if not snapshot.is_snapshot:
        raise ValueError("a definitions document is made of a snapshot")
    return DefinitionsDocument(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        environment_id=snapshot.environment_id,
        sequence=snapshot.sequence_number,
        written_at_ms=written_at_ms,
        flags=[m.to_dict() for m in snapshot.flags],
        rule_segments=[m.to_dict() for m in snapshot.rule_segments],
        list_segments=[m.to_dict() for m in snapshot.list_segments],
        segment_references=references(snapshot),
        sdk_key_hash=sdk_key_hash,
    )


def encode(document: DefinitionsDocument) -> bytes:
    """A document's file bytes (indented JSON; the route's body is the same JSON, unindented)."""
    return msgspec.json.format(msgspec.json.encode(document), indent=1)


def encode_document(
    snapshot: flags_pb.SyncResponse, *, written_at_ms: int, sdk_key_hash: str | None = None
) -> bytes:
    """The document file of a snapshot SyncResponse."""
    return encode(document_of_snapshot(snapshot, written_at_ms=written_at_ms, sdk_key_hash=sdk_key_hash))


def decode_document(
    raw: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    environment_id: str | None = None,
    sdk_key_hash: str | None = None,
) -> tuple[DefinitionsDocument, flags_pb.SyncResponse]:
    """The document and its snapshot SyncResponse; DocumentError unless every check holds.

    `environment_id` / `sdk_key_hash`: when given, the document must name exactly these.
    """
    if len(raw) > max_bytes:
        raise DocumentError(f"over {max_bytes} bytes")
    try:
        document = msgspec.json.decode(raw, type=DefinitionsDocument)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise DocumentError(f"not a definitions document: {exc}") from None
    _check_header(document, environment_id, sdk_key_hash)
    snapshot = _snapshot(document)
    if references(snapshot) != document.segment_references:
        raise DocumentError("segment_references do not match the flags")
    present = {m.key for m in snapshot.rule_segments} | {m.key for m in snapshot.list_segments}
    missing = sorted({k for keys in document.segment_references.values() for k in keys} - present)
    if missing:
        raise DocumentError(f"flags reference segments the document lacks: {', '.join(missing)}")
    return document, snapshot


def _check_header(document: DefinitionsDocument, environment_id: str | None, key_hash: str | None) -> None:
    if document.format != FORMAT:
        raise DocumentError(f"format {document.format!r} is not {FORMAT!r}")
    if document.format_version != FORMAT_VERSION:
        raise DocumentError(f"format_version {document.format_version} is not {FORMAT_VERSION}")
    if environment_id is not None and document.environment_id != environment_id:
        raise DocumentError("written for another environment")
    if key_hash is not None and document.sdk_key_hash != key_hash:
        raise DocumentError("written for another SDK key")
    if document.sequence < 0:
        raise DocumentError("a negative sequence")


def _message(cls: type[M], fields: dict[str, Any]) -> M:
    """`fields` as a message, only if it survives the wire unchanged (betterproto's from_dict is lax:
    it takes 5 for a string field)."""
    message: M = cls().from_dict(fields)
    if cls().parse(bytes(message)) != message:
        raise ValueError(f"a {cls.__name__} with mistyped fields")
    return message


def _snapshot(document: DefinitionsDocument) -> flags_pb.SyncResponse:
    try:
        return flags_pb.SyncResponse(
            flags=[_message(flags_pb.FeatureFlag, m) for m in document.flags],
            rule_segments=[_message(segments_pb.RuleSegment, m) for m in document.rule_segments],
            list_segments=[_message(segments_pb.ListSegmentMeta, m) for m in document.list_segments],
            environment_id=document.environment_id,
            sequence_number=document.sequence,
            is_snapshot=True,
            server_timestamp_ms=document.written_at_ms,
        )
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise DocumentError(f"a definition is not its proto3 JSON: {exc}") from None
