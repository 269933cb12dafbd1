"""What the HTTP parsers do with a message the capture ends inside, and how large a header block may grow.

One decision for HTTP/1.1, HTTP/2 and HTTP/3:

- A message **head** the capture ends inside (an HTTP/1.1 head without its blank line, an HTTP/2 header block
  without END_HEADERS, an HTTP/3 HEADERS frame not all there) is reported as ``Undecodable`` with cause
  "lost": the bytes that would finish it are not in the capture, which is missing evidence, not a broken peer
  (a capture stopped at an instant cuts whatever was in flight). The protocol's syntax finding says "not all
  could be read" with the sentence below, and is inconclusive when nothing else was read.
- A message **body** the capture ends inside gets no end event (``Http1End``, END_STREAM), as in Wireshark;
  the invariants that need the end say so.
- A header block that grows beyond ``MAX_HEADER_BLOCK`` without ending is a peer's fault whatever the capture
  holds (the CONTINUATION flood of CVE-2024-27316 and its kin): ``Undecodable`` cause "malformed", a
  violation of the syntax invariant, and the parser stops buffering it. HTTP/2 counts each frame's 9-byte
  header in the block's size, so a flood of empty CONTINUATION frames is bounded too. An HTTP/1.1 head has
  long had its own, smaller cap (``http1._MAX_HEAD``, 64 KiB: a head is text, not compressed), with the same
  status.
"""

from __future__ import annotations

MAX_HEADER_BLOCK = 256 * 1024  # bytes (frame headers included): far above real header sections (16-64 KB caps)


def unfinished_head(what: str, size: int, extra: str = "") -> str:
    """The sentence for a head the capture ends inside."""
    return f"the capture ends inside {what} ({size} bytes{extra})"


def oversized_head(what: str, size: int, extra: str = "") -> str:
    """The sentence for a header block beyond ``MAX_HEADER_BLOCK``."""
    return f"{what} larger than {MAX_HEADER_BLOCK // 1024} KiB ({size} bytes{extra}) without ending"
