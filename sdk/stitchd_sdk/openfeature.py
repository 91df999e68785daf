"""`StitchdProvider`: the Stitchd SDK as an OpenFeature provider (install `stitchd[openfeature]`).

Evaluations run in-process on the synced definitions, exactly as `SdkClient`'s getters (exposures
included). The OpenFeature context maps onto a context set by the convention of docs/openfeature.md;
without a `targetingKey` the context's key is empty (static flags need none). Events: PROVIDER_READY
once the first snapshot is applied (and again when a stale stream is fresh again),
PROVIDER_CONFIGURATION_CHANGED with the changed flag keys on each delta, PROVIDER_STALE when the
stream has been silent past `SdkOptions.stale_after_s`, PROVIDER_ERROR when the key is refused: fatal
at start (no definitions), not fatal once running (a key revoked since: the SDK goes on evaluating its
last definitions, and READY follows should a stream be accepted again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent, ProviderEventDetails
from openfeature.exception import ErrorCode as OfErrorCode
from openfeature.exception import InvalidContextError, ProviderFatalError, TargetingKeyMissingError
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.flag_evaluation import Reason as OfReason
from openfeature.hook import Hook
from openfeature.provider import AbstractProvider, Metadata
from openfeature.track import TrackingEventDetails

from domain.context import ContextSet
from domain.flags.model import ErrorCode, Reason
from domain.openfeature_context import ContextError, ContextRefused, to_context_set
from stitchd_sdk.sync_client import SdkClient
from stitchd_sdk.types import EvaluationDetails, SdkError, SdkOptions, SdkState, SyncUpdate

T = TypeVar("T")
ClientFactory = Callable[[], SdkClient]
WATCH_INTERVAL_S = 0.5
REFUSED_MESSAGE = "the broadcaster refuses the SDK key (revoked?); evaluating the last definitions"
_EVENT_OF_STATE = {
    SdkState.FRESH: ProviderEvent.PROVIDER_READY,
    SdkState.STALE: ProviderEvent.PROVIDER_STALE,
    SdkState.DISCONNECTED: ProviderEvent.PROVIDER_STALE,
    SdkState.REFUSED: ProviderEvent.PROVIDER_ERROR,
    SdkState.CACHED: ProviderEvent.PROVIDER_STALE,  # a definitions file, the stream not reached yet
    SdkState.OFFLINE: ProviderEvent.PROVIDER_READY,  # offline mode: the file is all there is
}
_ERRORS = {
    ErrorCode.FLAG_NOT_FOUND: OfErrorCode.FLAG_NOT_FOUND,
    ErrorCode.TYPE_MISMATCH: OfErrorCode.TYPE_MISMATCH,
    ErrorCode.GENERAL: OfErrorCode.GENERAL,
}


class StitchdProvider(AbstractProvider):
    """An OpenFeature provider over a Stitchd `SdkClient` (connected by `initialize`)."""

    def __init__(
        self,
        grpc_url: str,
        rest_url: str,
        sdk_key: str,
        *,
        options: SdkOptions | None = None,
        timeout: float | None = 10.0,
        watch_interval_s: float = WATCH_INTERVAL_S,
    ) -> None:
        self._connect: ClientFactory = lambda: SdkClient(
            grpc_url, rest_url, sdk_key, timeout=timeout, options=options
        )
        self._client: SdkClient | None = None
        self._watch_interval_s = watch_interval_s
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def get_metadata(self) -> Metadata:
        return Metadata(name="stitchd")

    def get_provider_hooks(self) -> list[Hook]:
        return []

    @property
    def client(self) -> SdkClient:
        """The connected SDK client (after `initialize`)."""
        if self._client is None:
            raise ProviderFatalError("the Stitchd provider is not initialised")
        return self._client

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Connect and wait for the first snapshot; a refused key is fatal (PROVIDER_ERROR)."""
        try:
            self._client = self._connect()
        except (SdkError, TimeoutError) as exc:
            raise ProviderFatalError(str(exc)) from exc
        self._client.add_listener(self._on_update)
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="stitchd-openfeature", daemon=True)
        self._watcher.start()

    def shutdown(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
        if self._client is not None:
            self._client.close()
            self._client = None

    def _on_update(self, update: SyncUpdate) -> None:
        if update.is_snapshot:
            return  # the first one is PROVIDER_READY (sent by the SDK once initialize returns)
        changed = sorted({*update.upserted_flag_keys, *update.removed_flag_keys})
        self.emit_provider_configuration_changed(
            ProviderEventDetails(flags_changed=changed, metadata={"sequence": update.sequence})
        )

    def _watch(self) -> None:
        """Emit the provider event of each change of the SDK's state (READY was sent by initialize)."""
        shown = ProviderEvent.PROVIDER_READY
        while not self._stop.wait(self._watch_interval_s):
            client = self._client
            if client is None:
                return
            wanted = _EVENT_OF_STATE[client.status().state]
            if wanted is not shown:
                self._emit(wanted)
                shown = wanted

    def _emit(self, event: ProviderEvent) -> None:
        if event is ProviderEvent.PROVIDER_READY:
            self.emit_provider_ready(ProviderEventDetails(message="definition stream fresh again"))
        elif event is ProviderEvent.PROVIDER_STALE:
            self.emit_provider_stale(ProviderEventDetails(message="definition stream silent or down"))
        else:  # not fatal: evaluations go on from the last definitions, READY follows if it is accepted
            details = ProviderEventDetails(message=REFUSED_MESSAGE, error_code=OfErrorCode.GENERAL)
            self.emit_provider_error(details)

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        contexts = _contexts(evaluation_context)
        return self._resolution(flag_key, self.client.bool_details(flag_key, contexts, default_value))

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        contexts = _contexts(evaluation_context)
        return self._resolution(flag_key, self.client.str_details(flag_key, contexts, default_value))

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        contexts = _contexts(evaluation_context)
        return self._resolution(flag_key, self.client.int_details(flag_key, contexts, default_value))

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        contexts = _contexts(evaluation_context)
        return self._resolution(flag_key, self.client.float_details(flag_key, contexts, default_value))

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        contexts = _contexts(evaluation_context)
        details = self.client.json_details(flag_key, contexts, default_value)  # type: ignore[arg-type]
        if details.error_code is None and not isinstance(details.value, dict | list):
            return FlagResolutionDetails(
                value=default_value,
                reason=OfReason.ERROR,
                error_code=OfErrorCode.TYPE_MISMATCH,
                error_message=f"flag {flag_key!r} is not an object",
            )
        return self._resolution(flag_key, details)  # type: ignore[arg-type]

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        """A metric event of the context's first (primary) context; the details' `value` is its value."""
        contexts = _contexts(evaluation_context)
        if not contexts.contexts:
            return
        value = tracking_event_details.value if tracking_event_details is not None else None
        self.client.track(tracking_event_name, contexts.contexts[0], value)

    def _resolution(self, flag_key: str, details: EvaluationDetails[T]) -> FlagResolutionDetails[T]:
        metadata: dict[str, int | float | str | bool] = {
            "sequence": details.sequence,
            "reason": details.reason.value,
        }
        if details.rule_id is not None:
            metadata["ruleId"] = details.rule_id
        if details.error_code is not None:
            return FlagResolutionDetails(
                value=details.value,
                reason=OfReason.ERROR,
                error_code=_ERRORS.get(details.error_code, OfErrorCode.GENERAL),
                error_message=f"{details.error_code.value}",
                flag_metadata=metadata,
            )
        return FlagResolutionDetails(
            value=details.value,
            variant=details.variant_key,
            reason=self._reason(flag_key, details),
            flag_metadata=metadata,
        )

    def _reason(self, flag_key: str, details: EvaluationDetails[Any]) -> str:
        if details.reason is not Reason.DEFAULT:
            return str(details.reason.value)
        return OfReason.DEFAULT if self._has_rules(flag_key) else OfReason.STATIC

    def _has_rules(self, flag_key: str) -> bool:
        flag = self.client.async_client.store.current.flags.get(flag_key)
        return flag is not None and bool(flag.definition.config.rules)


def _contexts(context: EvaluationContext | None) -> ContextSet:
    """The context set of an OpenFeature context (docs/openfeature.md); no targeting key: key ""."""
    document: dict[str, Any] = dict(context.attributes) if context is not None else {}
    document["targetingKey"] = (context.targeting_key if context is not None else None) or ""
    try:
        return to_context_set(document, require_key=False)
    except ContextRefused as refused:
        if refused.code is ContextError.TARGETING_KEY_MISSING:
            raise TargetingKeyMissingError(refused.details) from None
        raise InvalidContextError(refused.details) from None
