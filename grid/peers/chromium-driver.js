// The grid's browser client: Debian's Chromium, headless, driven over its DevTools protocol (the ws package) to
// open the grid's page (page.html) on the server under test. TLS always (a streamed upload needs h2); Chromium
// logs its TLS session keys to SSLKEYLOGFILE, which the grid embeds in the capture. Exit 0 when the page says done.
'use strict';
const fs = require('fs');
const { spawn } = require('child_process');
const WebSocket = require('ws');

const PROTO = process.env.PROTO || 'http1';
const HOST = process.env.SERVER_HOST || 'grid-server';
const PORT = Number(process.env.SERVER_PORT || 8443);
const PAGE = process.env.PAGE || 'served';  // served: the server serves page.html; inline: a data: URL (lab servers)
const QUERY = process.env.QUERY || '';
// The name the server's certificate carries, when it is not the grid's (the lab's own TLS servers): Chromium asks
// for that name and resolves it to the grid's server, so the handshake is the one a user's browser would make.
const NAME = process.env.TLS_NAME || HOST;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (...a) => console.log(`chromium ${PROTO}:`, ...a);

const chrome = spawn('chromium', ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--ignore-certificate-errors', '--remote-debugging-port=9222', '--user-data-dir=/tmp/chrome', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-extensions',
  '--disable-default-apps', '--no-default-browser-check', '--metrics-recording-only',
  `--ssl-key-log-file=${process.env.SSLKEYLOGFILE || '/tmp/keys'}`,
  ...(NAME !== HOST ? [`--host-resolver-rules=MAP ${NAME} ${HOST}`] : []),
  // HTTP/3: QUIC to the server from the first request (no Alt-Svc round on TCP first, and the server has no TCP).
  // Chromium's QUIC ignores --ignore-certificate-errors: the server's key is trusted by its hash (SPKI).
  ...(PROTO === 'http3' ? ['--enable-quic', `--origin-to-force-quic-on=${NAME}:${PORT}`,
    `--ignore-certificate-errors-spki-list=${process.env.SPKI || ''}`] : []), 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
chrome.stderr.on('data', (d) => { stderr = (stderr + d).slice(-2000); });

async function target() {
  for (let i = 0; i < 100; i += 1) {
    try {
      const list = await (await fetch('http://127.0.0.1:9222/json/list')).json();
      const page = list.find((t) => t.type === 'page');
      if (page) return page.webSocketDebuggerUrl;
    } catch (e) { /* not up yet */ }
    await sleep(100);
  }
  throw new Error('chromium did not open its DevTools port: ' + stderr);
}

async function main() {
  const ws = new WebSocket(await target(), { perMessageDeflate: false });
  await new Promise((r, j) => { ws.on('open', r); ws.on('error', j); });
  let id = 0; const waiting = new Map();
  ws.on('message', (m) => { const msg = JSON.parse(m); if (waiting.has(msg.id)) { waiting.get(msg.id)(msg); waiting.delete(msg.id); } });
  const send = (method, params = {}) => new Promise((r) => { id += 1; waiting.set(id, r); ws.send(JSON.stringify({ id, method, params })); });
  let url = `https://${NAME}:${PORT}/page.html${QUERY}#${PROTO}`;
  if (PROTO === 'http3') {
    // The HTTP/3 servers serve no page: open one of their answers, then ask the rest from it (same origin).
    url = `https://${NAME}:${PORT}/item/1`;
  } else if (PAGE === 'inline') {
    const html = fs.readFileSync('/opt/grid/peers/page.html', 'utf8').replace('<script>',
      `<script>window.GRID_PROTO=${JSON.stringify(PROTO)};window.GRID_WS=${JSON.stringify(`wss://${NAME}:${PORT}/ticks`)};`);
    url = 'data:text/html;base64,' + Buffer.from(html).toString('base64');
  }
  await send('Page.navigate', { url });
  if (PROTO === 'http3') {
    await sleep(1000);
    const asked = `Promise.all(['/stream', '/item/2', '/item/3', '/page'].map((p) => fetch(p).then((r) => r.text())))
      .then((a) => { const e = performance.getEntries().map((x) => x.nextHopProtocol || '-');
                     document.title = 'done ' + a.length + ' answers over ' + e.join(','); },
            (e) => { document.title = 'error ' + e; })`;
    await send('Runtime.evaluate', { expression: asked });
  }
  let title = '';
  for (let i = 0; i < 150 && !/^(done|error)/.test(title); i += 1) {
    await sleep(100);
    title = ((await send('Runtime.evaluate', { expression: 'document.title', returnByValue: true })).result || {}).result?.value || '';
  }
  say(title || 'no answer in 15 s');
  ws.close();
  return /^done/.test(title) ? 0 : 1;
}

main().then((code) => { chrome.kill('SIGTERM'); setTimeout(() => process.exit(code), 300); },
  (e) => { say('failed:', e.message); chrome.kill('SIGKILL'); process.exit(1); });
