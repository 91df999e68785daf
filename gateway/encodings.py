"""Encoded request bodies (seed 004): `Content-Encoding: gzip` and/or `base64`, or `?compression=gzip`
/ `?compression=base64`, decoded before Litestar reads the body.

The decoded size is capped by the gateway's body limit while decoding: gzip is inflated in bounded
steps (`max_length`), so a decompression bomb is refused with 413 after at most `limit` + one step of
output, never inflated whole. An unknown or malformed encoding is 400 INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Sequence
from urllib.parse import parse_qs

from gateway.asgi_types import ASGIApp, Message, Receive, Scope, Send

STEP = 64 * 1024
ENCODINGS = frozenset({"gzip", "x-gzip", "base64", "identity"})


class BodyTooLargeError(ValueError):
    """The decoded body exceeds the limit."""


class BadEncodingError(ValueError):
    """The body is not valid in the encoding it claims."""


def gunzip(data: bytes, limit: int) -> bytes:
    """Inflate a gzip (or zlib) stream, refusing as soon as the output would pass `limit` bytes."""
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header, detected
    out = bytearray()
    pending = data
    try:
        while pending:
            out += inflater.decompress(pending, STEP)
            if len(out) > limit:
                raise BodyTooLargeError(f"the decoded body is larger than {limit} bytes")
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
        if not inflater.eof:
            raise BadEncodingError("the gzip stream is truncated")
    except zlib.error:
        raise BadEncodingError("the body is not valid gzip") from None
    return bytes(out)


def unbase64(data: bytes, limit: int) -> bytes:
    if len(data) * 3 // 4 > limit + 3:
        raise BodyTooLargeError(f"the decoded body is larger than {limit} bytes")
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        try:
            return base64.urlsafe_b64decode(b"".join(data.split()))
        except (binascii.Error, ValueError):
            raise BadEncodingError("the body is not valid base64") from None


def decode_body(data: bytes, encodings: Sequence[str], limit: int) -> bytes:
    """Undo the encodings, last applied first (Content-Encoding lists them in the order applied)."""
    for encoding in reversed(encodings):
        if encoding in {"gzip", "x-gzip"}:
            data = gunzip(data, limit)
        elif encoding == "base64":
            data = unbase64(data, limit)
    if len(data) > limit:
        raise BodyTooLargeError(f"the decoded body is larger than {limit} bytes")
    return data


def requested_encodings(scope: Scope) -> list[str]:
    """The encodings a request declares (header first, then the `compression` query parameter)."""
    found: list[str] = []
    for key, value in scope["headers"]:
        if key == b"content-encoding":
            found += [v.strip().lower() for v in bytes(value).decode("latin-1").split(",") if v.strip()]
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
    for value in query.get("compression", []):
        found.append("gzip" if value.lower() in {"gzip", "gzip-js"} else value.lower())
    return [e for e in found if e != "identity"]


class DecodedBodies:
    """ASGI wrapper: decodes encoded request bodies within `limit` bytes before the app sees them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        encodings = requested_encodings(scope) if scope["type"] == "http" else []
        if not encodings:
            await self.app(scope, receive, send)
            return
        unknown = sorted(set(encodings) - ENCODINGS)
        if unknown:
            await _refuse(send, 400, "INVALID_ARGUMENT", f"unsupported content encoding {unknown[0]!r}")
            return
        try:
            body = decode_body(await _read(receive, self.limit), encodings, self.limit)
        except BodyTooLargeError as exc:
            await _refuse(send, 413, "RESOURCE_EXHAUSTED", str(exc))
            return
        except BadEncodingError as exc:
            await _refuse(send, 400, "INVALID_ARGUMENT", str(exc))
            return
        await self.app(_decoded_scope(scope, len(body)), _replay(body, receive), send)


async def _read(receive: Receive, limit: int) -> bytes:
    """The raw (encoded) body, itself refused past `limit` bytes."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            raise BadEncodingError("the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _decoded_scope(scope: Scope, length: int) -> Scope:
    """The same scope (outer layers read what routing writes into it), with the decoded length."""
    headers = [(k, v) for k, v in scope["headers"] if k not in {b"content-encoding", b"content-length"}]
    headers.append((b"content-length", str(length).encode()))
    scope["headers"] = headers
    return scope


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # the disconnect, when the app waits for it
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": message, "code": code}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
