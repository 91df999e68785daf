"""The throttle's client address: X-Forwarded-For only behind a trusted proxy."""

from __future__ import annotations

import pytest

from gateway.auth.addresses import TrustedProxies, client_address, parse_networks

PROXY = parse_networks("10.0.0.0/8, 192.0.2.1")


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address("10.1.1.1", "203.0.113.5", TrustedProxies()) == "10.1.1.1"


def test_a_peer_that_is_no_trusted_proxy_cannot_forward() -> None:
    assert client_address("198.51.100.2", "203.0.113.5", PROXY) == "198.51.100.2"


def test_the_right_most_untrusted_hop_is_the_client() -> None:
    assert client_address("10.1.1.1", "1.1.1.1, 203.0.113.5, 10.2.2.2", PROXY) == "203.0.113.5"


def test_garbage_in_the_header_falls_back_to_the_peer() -> None:
    assert client_address("10.1.1.1", "not-an-ip", PROXY) == "10.1.1.1"
    assert client_address("10.1.1.1", "10.3.3.3", PROXY) == "10.1.1.1"


def test_bad_networks_are_refused() -> None:
    with pytest.raises(ValueError, match="nope"):
        parse_networks("10.0.0.0/8,nope")
