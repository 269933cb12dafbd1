"""SSE over HTTP/2 client scenario (httpx, h2c prior knowledge, httpx-sse): open the event stream, and once the
first event has come, download /download on the same connection while the events keep flowing; close the event
stream once it has brought enough events and the download has ended (so the two streams' DATA interleave whatever
the host's load: the server writes both on one clock)."""

from __future__ import annotations

import asyncio
import sys

import httpx
from httpx_sse import aconnect_sse

from services.common import PORT, TIMEOUT, log, server_host

out = log("sse-h2-client")
WANT = 6


async def scenario() -> int:
    seen, download = 0, None
    # http1=False: h2c with prior knowledge; httpx keeps one HTTP/2 connection and opens a stream per request.
    async with httpx.AsyncClient(http1=False, http2=True, base_url=f"http://{server_host('sse-h2')}:{PORT}",
                                 timeout=TIMEOUT) as client:
        async with aconnect_sse(client, "GET", "/events") as source:
            async for event in source.aiter_sse():
                seen += 1
                out.info("event id=%s %r", event.id, event.data[:20])
                if download is None:  # the event stream is open: ask for something else beside it
                    download = asyncio.ensure_future(client.get("/download"))
                if seen >= WANT and download.done():  # the events flowed all through the download: they interleave
                    break
            versions = {source.response.http_version}
        if download is None:
            return 1
        got = await download
        versions.add(got.http_version)
    out.info("read %d events; beside them downloaded %d bytes; %s", seen, len(got.content), " ".join(versions))
    return 0 if seen >= WANT and got.status_code == 200 and versions == {"HTTP/2"} else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(asyncio.wait_for(scenario(), TIMEOUT)))
