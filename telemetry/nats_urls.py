"""NATS_URL names one server or a cluster: comma-separated URLs, each with its own credentials.

nats-py takes a list of servers and fails over between them; servers the cluster gossips are not
enough on their own, because they come without the credentials the embedded servers require.
(Shared by every process's NATS connection, like the rest of this package.)
"""

from __future__ import annotations


def nats_servers(url: str) -> list[str]:
    """The URLs in `url` (one, or several comma-separated), blanks dropped, order kept."""
    found = [part.strip() for part in url.split(",") if part.strip()]
    if not found:
        raise ValueError("no NATS server URL given")
    return found
