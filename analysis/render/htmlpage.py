"""The HTML report: one self-contained page (inline CSS and SVG, no scripts, no fetches).

Per capture: the verdicts next to a ladder diagram of each connection, then a table
comparing the protocols from their measures. Pure: results and ladders in, a string out.
"""

from __future__ import annotations

from html import escape

from ..events import C2S
from ..findings import CaptureResult
from .ladder import Arrow, Fold, Ladder

_W, _LEFT, _RIGHT, _ROW, _TOP = 620, 150, 500, 24, 46
_CONNECTIONS_SHOWN = 40

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2430;background:#fbfbfd}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-top:1px solid #dde;padding-top:16px}
.sub{color:#5b6475;margin-bottom:18px} .cap{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
.verdicts{flex:1 1 420px;min-width:360px} .ladders{flex:0 0 auto}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #d8dbe3;padding:4px 8px;text-align:left;
vertical-align:top} th{background:#eef0f5} .ok{color:#17803d;font-weight:600}
.violated{color:#b42318;font-weight:600} .inconclusive{color:#a15c00;font-weight:600}
.not-applicable,.not-judged{color:#6b7280}
.pass{background:#e7f6ec} .fail{background:#fde8e7} .incl{background:#fff4e0}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700}
.legend span{margin-right:16px} .num{text-align:right;font-variant-numeric:tabular-nums}
svg text{font:12px ui-monospace,SFMono-Regular,Menlo,monospace} figure{margin:0 0 16px}
figcaption{font-size:12px;color:#5b6475}
"""
_COLORS = {"client": "#3b4a66", "server": "#2563c9", "originated": "#d9480f"}


def render(items: list[tuple[CaptureResult, list[Ladder]]], title: str = "duplexlab report") -> str:
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{escape(title)}</h1>",
             "<div class=sub>Who speaks when, on the wire. Arrows point from sender to receiver, time runs "
             "downward; each arrow names its Wireshark frame number (<code>frame.number == N</code>).</div>",
             '<div class=legend><span style="color:#3b4a66">━ client</span>'
             '<span style="color:#2563c9">━ server, answering</span>'
             '<span style="color:#d9480f">┅ server, unasked (originated)</span></div>',
             "<h2>Comparison</h2>", comparison_table([r for r, _ in items])]
    for result, lads in items:
        parts.append(_capture(result, lads))
    parts.append("</body></html>")
    return "\n".join(parts)


def _capture(r: CaptureResult, lads: list[Ladder]) -> str:
    cls = {"pass": "pass", "fail": "fail"}.get(r.verdict, "incl")
    rows = "".join(
        f"<tr><td><code>{escape(f.invariant)}</code></td><td class={f.status.value}>{f.status.value}</td>"
        f"<td>{escape(', '.join(map(str, f.frames[:12])) + ('…' if len(f.frames) > 12 else ''))}</td>"
        f"<td>{escape(f.detail)}<br><small>{escape(f.source)}</small></td></tr>" for f in r.findings)
    warnings = "".join(f"<p class=inconclusive>warning: {escape(w)}</p>" for w in r.warnings)
    warnings += _connections(r)
    diagrams = _path_svg(r) + ("".join(_svg(lad) for lad in lads) or "<p>No application traffic to draw.</p>")
    whose = f" <small>server: {escape(r.server)}</small>" if r.server else ""
    return (f"<h2 id='{_anchor(r)}'>{escape(r.file)} <span class='badge {cls}'>{escape(r.protocol)}: "
            f"{r.verdict.upper()}</span>{whose}</h2><div class=cap><div class=verdicts><table><tr><th>invariant</th>"
            f"<th>status</th><th>frames</th><th>detail</th></tr>{rows}</table>{warnings}</div>"
            f"<div class=ladders>{diagrams}</div></div>")


def _connections(r: CaptureResult) -> str:
    """Each connection with its protocol and verdict; the findings that did not hold, under it."""
    if len(r.connections) < 2 and all(c.findings for c in r.connections):
        return ""
    rows = []
    for c in r.connections[:_CONNECTIONS_SHOWN]:
        bad = "".join(f"<br><code>{escape(f.invariant)}</code> <span class={f.status.value}>{f.status.value}</span>: "
                      f"{escape(f.detail)}" for f in c.findings if f.status.value in ("violated", "inconclusive"))
        rows.append(f"<tr><td>{escape(c.label)}</td><td>{escape(c.protocol)}</td><td class={c.verdict}>{c.verdict}"
                    f"</td><td>{escape(c.reason)}{bad}</td></tr>")
    more = len(r.connections) - _CONNECTIONS_SHOWN + r.unlisted
    tail = f"<p>… and {more} more connections (the JSON lists them).</p>" if more > 0 else ""
    return ("<h3>Connections</h3><table><tr><th>connection</th><th>protocol</th><th>verdict</th><th>why</th></tr>"
            f"{''.join(rows)}</table>{tail}")


def _svg(lad: Ladder) -> str:
    height = _TOP + _ROW * len(lad.steps) + 20
    c, s = lad.conn.client, lad.conn.server
    out = [f"<figure><svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{height}' "
           f"role='img' aria-label='ladder diagram of {escape(lad.conn.describe())}' class=ladder>",
           "<defs>" + "".join(
               f"<marker id='h-{k}' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' "
               f"orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='{v}'/></marker>"
               for k, v in _COLORS.items()) + "</defs>",
           f"<text x='{_LEFT}' y='16' text-anchor='middle' font-weight='700'>client</text>",
           f"<text x='{_LEFT}' y='30' text-anchor='middle' fill='#5b6475'>{escape(_addr(c))}</text>",
           f"<text x='{_RIGHT}' y='16' text-anchor='middle' font-weight='700'>server</text>",
           f"<text x='{_RIGHT}' y='30' text-anchor='middle' fill='#5b6475'>{escape(_addr(s))}</text>",
           f"<line x1='{_LEFT}' y1='36' x2='{_LEFT}' y2='{height - 8}' stroke='#9aa3b5'/>",
           f"<line x1='{_RIGHT}' y1='36' x2='{_RIGHT}' y2='{height - 8}' stroke='#9aa3b5'/>"]
    for i, step in enumerate(lad.steps):
        y = _TOP + _ROW * i + 14
        if isinstance(step, Fold):
            out.append(f"<text x='{(_LEFT + _RIGHT) // 2}' y='{y}' text-anchor='middle' fill='#5b6475' "
                       f"font-style='italic'>{escape(step.label)}</text>")
            continue
        out.append(_arrow_svg(step, y, lad.t0))
    out.append("</svg>")
    out.append(f"<figcaption>{escape(lad.conn.describe())} — roles from {escape(lad.conn.role_source)}"
               "</figcaption></figure>")
    return "".join(out)


def _arrow_svg(a: Arrow, y: int, t0: float) -> str:
    key = "client" if a.direction is C2S else ("originated" if a.originated else "server")
    color = _COLORS[key]
    x1, x2 = (_LEFT, _RIGHT) if a.direction is C2S else (_RIGHT, _LEFT)
    dash = " stroke-dasharray='6 3'" if a.originated else ""
    return (f"<g class='arrow {key}' data-frame='{a.frame}'><text x='8' y='{y + 4}' fill='#5b6475'>#{a.frame}</text>"
            f"<text x='{_W - 8}' y='{y + 4}' text-anchor='end' fill='#8a93a5'>+{a.ts - t0:.3f}s</text>"
            f"<line x1='{x1}' y1='{y}' x2='{x2}' y2='{y}' stroke='{color}' stroke-width='1.6'{dash} "
            f"marker-end='url(#h-{key})'/><text x='{(_LEFT + _RIGHT) // 2}' y='{y - 4}' text-anchor='middle' "
            f"fill='{color}'>{escape(a.label)}</text></g>")


_PATH_ROWS = 40  # server pieces drawn per path ladder
_LANES = (_LEFT, (_LEFT + _RIGHT) // 2, _RIGHT)


def _path_svg(r: CaptureResult) -> str:
    """Client | proxy | server, time to scale downward: each server piece as an arrow server→proxy on the back leg
    and proxy→client on the front leg, so a piece the proxy held shows as a long slope, and pieces released
    together as arrows that meet at the client."""
    p = r.measures.get("path")
    rows = [m for m in (p or {}).get("messages", [])][:_PATH_ROWS]
    if not rows:
        return ""
    t0 = min(m["back_ts"] for m in rows)
    span = max(max(m["front_ts"] for m in rows) - t0, 1e-3)
    height = max(260, 26 * len(rows))
    top = 48

    def y(ts: float) -> float:
        return round(top + (ts - t0) / span * height, 1)

    cl, px, sv = _LANES
    out = [f"<figure><svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{top + height + 24}' role='img' "
           f"aria-label='path ladder: server pieces through the proxy' class='ladder path'>",
           "<defs><marker id='h-path' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' "
           f"orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='{_COLORS['originated']}'/></marker></defs>"]
    for x, name in ((cl, "client"), (px, "proxy " + ", ".join(p["proxies"])), (sv, "server")):
        out.append(f"<text x='{x}' y='18' text-anchor='middle' font-weight='700'>{escape(name)}</text>"
                   f"<line x1='{x}' y1='28' x2='{x}' y2='{top + height + 16}' stroke='#9aa3b5'/>")
    for m in rows:
        yb, yf = y(m["back_ts"]), y(m["front_ts"])
        label = "head" if m["offset"] == 0 else f"to byte {m['offset']}"
        out.append(f"<g class='arrow path' data-frame='{m['front_frame']}'>"
                   f"<line x1='{sv}' y1='{yb}' x2='{px}' y2='{yb}' stroke='{_COLORS['originated']}' "
                   f"stroke-width='1.4' marker-end='url(#h-path)'/><text x='{sv + 6}' y='{yb + 4}' "
                   f"fill='#5b6475'>#{m['back_frame']}</text>"
                   f"<line x1='{px}' y1='{yb}' x2='{cl}' y2='{yf}' stroke='{_COLORS['originated']}' stroke-width='1.4' "
                   f"stroke-dasharray='6 3' marker-end='url(#h-path)'/><text x='{cl - 6}' y='{yf + 4}' "
                   f"text-anchor='end' fill='#5b6475'>#{m['front_frame']}</text><text x='{(cl + px) // 2}' "
                   f"y='{(yb + yf) / 2 - 4}' text-anchor='middle' fill='#8a93a5'>{escape(label)} "
                   f"+{m['added_ms']:.1f} ms</text></g>")
    out.append("</svg>")
    facts = "; ".join(p.get("facts", []))
    out.append(f"<figcaption>Path ladder, time to scale: each server piece as it reached the proxy on the back "
               f"leg, and when the proxy delivered it to the client. {escape(facts)}</figcaption></figure>")
    return "".join(out)


def _anchor(r: CaptureResult) -> str:
    return escape(r.file.rsplit("/", 1)[-1].split(".")[0])


def _addr(ep: tuple[str, int]) -> str:
    return f"[{ep[0]}]:{ep[1]}" if ":" in ep[0] else f"{ep[0]}:{ep[1]}"


def _or_dash(value: object) -> object:
    return "–" if value is None else value


def comparison_table(results: list[CaptureResult]) -> str:
    cols = [("connections", "connections used"), ("requests", "requests sent"),
            ("server_messages", "server messages delivered"),
            ("unprompted_server_messages", "server messages that needed no request"),
            ("server_bytes_per_message", "bytes on the wire per server message"),
            ("server_packets_per_message", "packets per server message"),
            ("server_ack_delay_ms", "server data → TCP ACK (mean ms)"),
            ("blind_window_ms", "long-poll blind window (median ms)")]
    if any("http3" in r.measures for r in results):
        cols += [("server_streams", "QUIC streams the server opened, by kind")]
    if any("path" in r.measures for r in results):
        cols += [("proxy_delay", "delay the proxy added per server piece (median / worst ms)"),
                 ("proxy_bunched", "server pieces that reached the client bunched"),
                 ("proxy_duplex", "full duplex through the proxy")]
    head = "<tr><th>capture</th>" + "".join(f"<th>{escape(label)}</th>" for _, label in cols) + "</tr>"
    body = []
    for r in results:
        m = dict(r.measures)
        blind = m.get("blind_windows_s")
        if isinstance(blind, list) and blind:
            m["blind_window_ms"] = round(sorted(blind)[len(blind) // 2] * 1000, 1)
        elif isinstance(blind, dict):
            m["blind_window_ms"] = round(blind["median"] * 1000, 1)
        if (h3 := m.get("http3")) is not None:
            opened = h3["streams_opened"]["server"]
            m["server_streams"] = ", ".join(f"{kind} {n}" for kind, n in opened.items()) or "none"
        if (path := m.get("path")) is not None:
            delay = path.get("added_delay_ms") or {}
            m["proxy_delay"] = f"{delay.get('median', '–')} / {delay.get('worst', '–')}"
            m["proxy_bunched"] = path.get("bunched", 0)
            kept = {f.invariant: f.status.value for f in r.findings}.get("path.duplex-kept", "–")
            m["proxy_duplex"] = {"ok": "kept", "violated": "lost", "not-applicable": "n/a"}.get(kept, kept)
        cells = "".join(f"<td class=num>{escape(str(_or_dash(m.get(k))))}</td>" for k, _ in cols)
        name = _anchor(r)
        body.append(f"<tr><td><a href='#{name}'>{name}</a> <small>({escape(r.protocol)})</small></td>{cells}</tr>")
    return f"<table>{head}{''.join(body)}</table>"
