// The grid's Node.js server: node's own http/https, http2 and the ws package; no duplexlab code.
// PROTO picks what it serves (the lab's scenarios: the same paths and payloads as services/), TLS=1 serves over TLS
// on 8443 (for Chromium), FAULT=mask makes the WebSocket server mask its frames (a rule broken on purpose).
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const http2 = require('http2');
const { WebSocketServer } = require('ws');

const PROTO = process.env.PROTO || 'http1';
const TLS = process.env.TLS === '1';
const FAULT = process.env.FAULT || '';
const PORT = TLS ? 8443 : 8080;
const tls = TLS ? { key: fs.readFileSync('/opt/grid/tls/key.pem'), cert: fs.readFileSync('/opt/grid/tls/cert.pem') } : {};
const PAGE = fs.readFileSync('/opt/grid/peers/page.html');
const payload = (tag, n) => { const h = `${tag} ${n} `; return h + '.'.repeat(64 - h.length); };
let pollStart = null;
const latest = () => { if (pollStart === null) pollStart = Date.now(); return Math.floor((Date.now() - pollStart) / 500); };

function h1(req, res) {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/page.html') { res.writeHead(200, { 'content-type': 'text/html' }); return res.end(PAGE); }
  if (url.pathname.startsWith('/item/')) {
    const body = payload('item', url.pathname.slice(6));
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }); return res.end(body);
  }
  if (url.pathname === '/echo' || url.pathname === '/duplex') {  // answer each piece of the body as it arrives
    res.writeHead(200, { 'content-type': 'text/plain' });
    if (res.flushHeaders) res.flushHeaders();
    req.on('data', (piece) => res.write(`got ${piece.length} bytes\n`));
    req.on('end', () => res.end('done\n'));
    return;
  }
  if (url.pathname === '/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let n = 0;
    const t = setInterval(() => {
      n += 1; res.write(`id: ${n}\ndata: ${payload('event', n)}\n\n`);
      if (n >= 6) { clearInterval(t); res.end(); }
    }, 300);
    req.on('close', () => clearInterval(t));
    return;
  }
  if (url.pathname === '/poll') {  // held open until the next event exists
    const after = url.searchParams.has('after') ? Number(url.searchParams.get('after')) : latest();
    const t = setInterval(() => {
      if (latest() > after) {
        clearInterval(t); const body = payload('event', latest());
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }); res.end(body);
      }
    }, 20);
    req.on('close', () => clearInterval(t));
    return;
  }
  if (url.pathname === '/' || url.pathname === '/style.css') {
    const css = url.pathname === '/style.css';
    if (!css && req.stream && req.stream.pushAllowed) {  // http2 only: push the stylesheet the page will need
      req.stream.pushStream({ ':path': '/style.css' }, (err, push) => {
        if (!err) { push.respond({ ':status': 200, 'content-type': 'text/css' }); push.end('body{color:#123}\n'); }
      });
    }
    const body = css ? 'body{color:#123}\n' : '<!doctype html><link rel=stylesheet href=/style.css><p>grid';
    res.writeHead(200, { 'content-type': css ? 'text/css' : 'text/html' }); return res.end(body);
  }
  res.writeHead(404); res.end();
}

function ticks(ws) {  // the WebSocket scenario: 6 ticks 0.25 s apart, unasked; an echo of each message
  const opts = FAULT === 'mask' ? { mask: true } : {};
  let n = 0;
  const t = setInterval(() => { n += 1; ws.send(payload('tick', n), opts); if (n >= 6) clearInterval(t); }, 250);
  ws.on('message', (m) => ws.send(`echo ${m}`.slice(0, 64), opts));
  ws.on('close', () => clearInterval(t));
}

// WebSocket over one HTTP/2 stream (RFC 8441): node's http2 offers SETTINGS_ENABLE_CONNECT_PROTOCOL and hands the
// extended CONNECT to a 'connect' listener; ws has no HTTP/2, so the frames (RFC 6455 §5.2) are written here.
function wsOverStream(stream) {
  const frame = (op, data) => Buffer.concat([Buffer.from([0x80 | op, data.length]), data]);  // < 126 bytes: ours are
  let n = 0; let buf = Buffer.alloc(0);
  const t = setInterval(() => { n += 1; stream.write(frame(1, Buffer.from(payload('tick', n)))); if (n >= 6) clearInterval(t); }, 250);
  stream.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 6) {
      const op = buf[0] & 0x0f; const len = buf[1] & 0x7f;  // client frames are masked and short here
      if (len > 125 || buf.length < 6 + len) break;
      const key = buf.subarray(2, 6); const data = Buffer.from(buf.subarray(6, 6 + len).map((b, i) => b ^ key[i % 4]));
      buf = buf.subarray(6 + len);
      if (op === 1) stream.write(frame(1, Buffer.from(('echo ' + data).slice(0, 64))));
      if (op === 8) { clearInterval(t); stream.end(frame(8, data)); }
    }
  });
  stream.on('close', () => clearInterval(t));
}

let server;
if (PROTO === 'websocket-h2') {
  const settings = { enableConnectProtocol: true };
  server = TLS ? http2.createSecureServer({ ...tls, allowHTTP1: true, settings }, h1) : http2.createServer({ settings }, h1);
  server.on('connect', (req, res) => {
    if (req.headers[':protocol'] !== 'websocket') { res.writeHead(400); res.end(); return; }
    req.stream.respond({ ':status': 200 });
    wsOverStream(req.stream);
  });
} else if (PROTO === 'http2' || PROTO === 'h2push') {
  server = TLS ? http2.createSecureServer({ ...tls, allowHTTP1: true }, h1) : http2.createServer(h1);
} else {
  server = TLS ? https.createServer(tls, h1) : http.createServer(h1);
  if (PROTO === 'websocket') {
    const wss = new WebSocketServer({ server, path: '/ticks', perMessageDeflate: false });
    wss.on('connection', ticks);
  }
}
server.keepAliveTimeout = 30000;
server.listen(PORT, '0.0.0.0', () => console.log(`node ${process.version} serving ${PROTO} on ${PORT}${TLS ? ' (TLS)' : ''}${FAULT ? ' fault=' + FAULT : ''}`));
