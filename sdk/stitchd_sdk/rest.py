"""The SDK's REST calls to the gateway (x-sdk-key): list-checks and event/exposure batches.

Failures never raise into evaluation: a list-check that fails answers None (unknown, not a member,
not cached) and counts in `failures`; a batch post says whether it may be retried.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import msgspec

from stitchd_sdk.lfu import MembershipKey

log = logging.getLogger("stitchd_sdk")


class PostOutcome(enum.Enum):
    """SENT: accepted; RETRY: transient (network, 408/429/5xx), keep the batch; REFUSED: drop it."""

    SENT = "sent"
    RETRY = "retry"
    REFUSED = "refused"


class _MemberAnswer(msgspec.Struct):
    is_member: bool


class _BatchAnswer(msgspec.Struct):
    results: list[_MemberAnswer]


class _IngestAnswer(msgspec.Struct):
    rejected_keys: list[str] = msgspec.field(default_factory=list)


def _check_body(key: MembershipKey) -> dict[str, str]:
    return {"segment_key": key[0], "context_type": key[1], "context_key": key[2]}


def _outcome(status: int) -> PostOutcome:
    if status < 300:
        return PostOutcome.SENT
    if status in (408, 429) or status >= 500:
        return PostOutcome.RETRY
    return PostOutcome.REFUSED


MIN_POSITION_HEADER = "x-stitchd-min-position"


class RestPaths:
    """URLs and headers for one environment; the environment id is known after the first snapshot."""

    def __init__(self, rest_url: str, sdk_key: str, sequence: Callable[[], int] = lambda: 0) -> None:
        self.base = rest_url.rstrip("/")
        self.headers = {"x-sdk-key": sdk_key}
        self.environment_id = ""
        self.failures = 0
        self._sequence = sequence

    def url(self, tail: str) -> str:
        """`{rest}/v1/environments/{env}/{tail}`."""
        return f"{self.base}/v1/environments/{self.environment_id}/{tail}"

    def check_headers(self) -> dict[str, str]:
        """Headers of a list-check: the gateway answers at least as of the SDK's definition sequence."""
        return {**self.headers, MIN_POSITION_HEADER: str(self._sequence())}


class SyncRest:
    """Blocking list-checks, for the synchronous client's evaluating threads."""

    def __init__(self, paths: RestPaths, client: httpx.Client) -> None:
        self._paths = paths
        self._client = client

    def list_check(self, key: MembershipKey) -> bool | None:
        """One membership, or None when the call failed."""
        try:
            response = self._client.post(
                self._paths.url("segments/list-check"),
                json=_check_body(key),
                headers=self._paths.check_headers(),
            )
            response.raise_for_status()
            return msgspec.json.decode(response.content, type=_MemberAnswer).is_member
        except (httpx.HTTPError, msgspec.DecodeError) as exc:
            self._paths.failures += 1
            log.warning("list-check failed: %s", type(exc).__name__)
            return None

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class AsyncRest:
    """Awaited list-checks and batch posts, for the asyncio client and the background flusher."""

    def __init__(self, paths: RestPaths, client: httpx.AsyncClient) -> None:
        self._paths = paths
        self._client = client

    async def batch_list_check(self, keys: Sequence[MembershipKey]) -> list[bool | None]:
        """Memberships in request order; all None when the call failed."""
        if not keys:
            return []
        body = {"checks": [_check_body(k) for k in keys]}
        try:
            response = await self._client.post(
                self._paths.url("segments/batch-list-check"), json=body, headers=self._paths.check_headers()
            )
            response.raise_for_status()
            answers = msgspec.json.decode(response.content, type=_BatchAnswer).results
        except (httpx.HTTPError, msgspec.DecodeError) as exc:
            self._paths.failures += 1
            log.warning("batch-list-check failed: %s", type(exc).__name__)
            return [None] * len(keys)
        if len(answers) != len(keys):
            self._paths.failures += 1
            return [None] * len(keys)
        return [a.is_member for a in answers]

    async def post_batch(
        self, tail: str, field: str, items: Sequence[dict[str, Any]]
    ) -> tuple[PostOutcome, list[str]]:
        """POST `{field: items}` to `tail`: the outcome (keep the batch?) and the refused metric keys."""
        try:
            response = await self._client.post(
                self._paths.url(tail), json={field: list(items)}, headers=self._paths.headers
            )
        except httpx.HTTPError as exc:
            log.warning("posting %s failed: %s", tail, type(exc).__name__)
            return PostOutcome.RETRY, []
        outcome = _outcome(response.status_code)
        if outcome is not PostOutcome.SENT:
            log.warning("posting %s answered %s", tail, response.status_code)
            return outcome, []
        try:
            rejected = msgspec.json.decode(response.content, type=_IngestAnswer).rejected_keys
        except msgspec.DecodeError:
            rejected = []  # accepted; the answer's detail is not ours to insist on
        if rejected:
            log.warning("the gateway refused metric keys %s (not registered or mistyped)", sorted(rejected))
        return outcome, rejected

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
