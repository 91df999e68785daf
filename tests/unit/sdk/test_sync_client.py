"""SdkClient (plain synchronous code) over the same fakes; the test thread blocks like an application."""

from __future__ import annotations

import threading

import pytest
from stitchd_sdk import SdkClient, SdkError, SdkOptions, SdkState

from domain.flags.model import ErrorCode
from tests.unit.sdk.conftest import SEQ
from tests.unit.sdk.fakes import SDK_KEY, FakeGateway, ServerThread, delta, string_flag, wait_until

PRO = ("user", "u1", {"plan": "pro"})


def test_sync_client_evaluates_follows_deltas_and_flushes_on_close(
    server: ServerThread, options: SdkOptions, gateway: FakeGateway
) -> None:
    with SdkClient(server.url, "http://gateway.test", SDK_KEY, timeout=20, options=options) as client:
        assert client.bool_value("pro-only", PRO, False) is True
        assert client.status().state is SdkState.FRESH
        server.service.sessions[-1].push(delta(SEQ + 1, string_flag("colour", "red")))
        wait_until(lambda: client.status().last_sequence == SEQ + 1)
        details = client.str_details("colour", PRO, "none")
        assert (details.value, details.variant_key, details.sequence) == ("red", "v", SEQ + 1)
        assert client.float_details("colour", PRO, 1.5).error_code is ErrorCode.TYPE_MISMATCH
        client.track("checkout", ("user", "u1"), 10)
    assert [e["metric_key"] for b in gateway.calls("/events/batch") for e in b["events"]] == ["checkout"]
    assert len(gateway.calls("/exposures/batch")) == 1
    client.close()  # idempotent


def test_sync_client_fetches_list_memberships_in_the_calling_thread(
    server: ServerThread, options: SdkOptions, gateway: FakeGateway
) -> None:
    gateway.members.add(("beta", "user", "u1"))
    with SdkClient(server.url, "http://gateway.test", SDK_KEY, timeout=20, options=options) as client:
        assert client.bool_value("beta-only", ("user", "u1"), False) is True
        assert client.bool_value("beta-only", ("user", "u1"), False) is True
        assert client.bool_value("beta-only", ("user", "u2"), True) is False
        assert len(gateway.calls("/segments/list-check")) == 2
        assert client.prewarm([("beta", "user", "u3")]) == 1
        assert client.bool_value("beta-only", ("user", "u3"), True) is False
        assert len(gateway.calls("/segments/list-check")) == 2


def test_sync_client_start_up_failure_raises_and_leaves_no_thread(
    server: ServerThread, options: SdkOptions
) -> None:
    with pytest.raises(SdkError):
        SdkClient(server.url, "http://gateway.test", "sdk_live_wrong", timeout=20, options=options)
    assert not [t for t in threading.enumerate() if t.name == "stitchd-sdk"]


def test_threads_never_see_a_value_from_another_sequence(server: ServerThread, options: SdkOptions) -> None:
    last = SEQ + 150
    mismatches: list[tuple[str, int]] = []
    with SdkClient(server.url, "http://gateway.test", SDK_KEY, timeout=20, options=options) as client:

        def evaluate_until_last() -> None:
            while client.status().last_sequence < last:
                details = client.str_details("colour", PRO, "none")
                if details.error_code is None and details.value != f"v{details.sequence}":
                    mismatches.append((details.value, details.sequence))

        threads = [threading.Thread(target=evaluate_until_last) for _ in range(3)]
        for thread in threads:
            thread.start()
        session = server.service.sessions[-1]
        session.push(*(delta(seq, string_flag("colour", f"v{seq}")) for seq in range(SEQ + 1, last + 1)))
        for thread in threads:
            thread.join()
        assert client.str_value("colour", PRO, "none") == f"v{last}"
    assert mismatches == []
