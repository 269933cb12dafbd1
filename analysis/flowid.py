"""Community ID flow hashes: the identifier Zeek, Suricata and Arkime log with every flow.

A connection's Community ID (corelight community-id-spec, version 1, seed 0) lets a user join
duplexlab's verdicts with those tools' logs. It is computed by the reference implementation
(the ``communityid`` package, a dependency), only for the connections a result lists, so a capture of a
million connections pays for none it does not print.
"""

from __future__ import annotations

from functools import lru_cache

_PROTO = {"tcp": 6, "quic": 17}


@lru_cache(maxsize=1)
def _hasher():
    import communityid  # imported on first use: a check that lists no connection never loads it

    return communityid, communityid.CommunityID(seed=0)


def community_id(transport: str, client: tuple[str, int], server: tuple[str, int]) -> str | None:
    """``1:<base64 sha1>`` of the flow, or None where the endpoints are not IP addresses."""
    module, hasher = _hasher()
    proto = _PROTO.get(transport)
    if proto is None:
        return None
    try:
        flow = module.FlowTuple(proto, client[0], server[0], client[1], server[1])
        return hasher.calc(flow)
    except (ValueError, OSError, TypeError, module.error.FlowTupleError):
        return None
