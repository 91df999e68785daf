"""Stitchd Python SDK: synced definitions, in-process evaluation, list-segment cache and tracking.

`SdkClient` for synchronous code, `AsyncSdkClient` for asyncio code; see docs/sdk.md.
"""

from domain.context import Context, ContextSet
from domain.flags.model import ErrorCode, Reason
from stitchd_sdk.client import AsyncSdkClient
from stitchd_sdk.lfu import LfuCache
from stitchd_sdk.sync_client import SdkClient
from stitchd_sdk.types import (
    EvaluationDetails,
    SdkError,
    SdkOptions,
    SdkState,
    Status,
    SyncUpdate,
    TrackingStats,
)

__all__ = [
    "AsyncSdkClient",
    "Context",
    "ContextSet",
    "ErrorCode",
    "EvaluationDetails",
    "LfuCache",
    "Reason",
    "SdkClient",
    "SdkError",
    "SdkOptions",
    "SdkState",
    "Status",
    "SyncUpdate",
    "TrackingStats",
]
