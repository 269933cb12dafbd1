"""The README's "Through a proxy" table, read back, and the same cell computed from a lab result.

The e2e test (test_via.py) runs ``make lab VIA=...`` for each proxy and asserts that every cell
the README states is what the wire showed, so the table cannot drift from the lab.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_WORDS = {
    "path.delivered": {"ok": "delivered", "violated": "LOST", "inconclusive": "delivered?"},
    "path.not-held-back": {"ok": "prompt", "violated": "HELD", "inconclusive": "held?"},
    "path.duplex-kept": {"ok": "duplex kept", "violated": "DUPLEX LOST", "inconclusive": "duplex?"},
}


def cell(findings: list[dict]) -> str:
    """'delivered, prompt, duplex kept' from a capture's path findings (not-applicable ones are left out)."""
    status = {f["invariant"]: f["status"] for f in findings if f["kind"] == "path"}
    words = [_WORDS[fid][status[fid]] for fid in _WORDS if status.get(fid, "not-applicable") != "not-applicable"]
    return ", ".join(words) or "no path findings"


def readme_table() -> dict[str, dict[str, set[str]]]:
    """{proxy: {protocol: the cells it may show}} from the README's verdict table (between its two markers).

    A cell the wire showed both ways across runs lists both, as ``A *or* B``: the README says which, and how often."""
    text = README.read_text()
    block = text.split("<!-- via-table -->")[1].split("<!-- /via-table -->")[0]
    rows = [[c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            for line in block.strip().splitlines() if line.startswith("|") and not re.match(r"\|\s*-", line)]
    head, *body = rows
    proxies = head[1:]
    return {proxy: {row[0]: set(row[i + 1].split(" *or* ")) for row in body if row[i + 1] != "—"}
            for i, proxy in enumerate(proxies)}
