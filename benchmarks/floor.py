"""The physical reference for `make bench`: records read and TCP headers parsed, nothing else.

Usage: python benchmarks/floor.py FILE
Reads every record with duplexlab's reader and unpacks the Ethernet/IPv4/TCP headers of each with
the one struct the decoder's fast path uses; no reassembly, no parsing, no judgement.
"""

from __future__ import annotations

import sys

from analysis.wire.decode import ETH_IPV4_TCP
from analysis.wire.pcapread import FileFacts, read_frames


def floor(path: str) -> int:
    tcp = 0
    for _number, _ts, _linktype, data, _wirelen in read_frames(path, FileFacts(path)):
        if len(data) >= 54 and ETH_IPV4_TCP(data)[4] == 6:
            tcp += 1
    return tcp


if __name__ == "__main__":
    print(floor(sys.argv[1]))
