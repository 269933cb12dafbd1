// The grid's Node.js client: undici's fetch (node's global fetch, incl. a streamed upload with duplex: 'half'),
// the ws package, node's http2, grpc-js and socket.io-client; no duplexlab code. PROTO picks the scenario;
// FAULT=chatty makes the SSE client talk into its event stream (a rule broken on purpose).
'use strict';
const http = require('http');
const http2 = require('http2');

const PROTO = process.env.PROTO || 'http1';
const FAULT = process.env.FAULT || '';
const HOST = process.env.SERVER_HOST || 'grid-server';
const PORT = Number(process.env.SERVER_PORT || 8080);
const BASE = `http://${HOST}:${PORT}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const payload = (tag, n) => { const h = `${tag} ${n} `; return h + '.'.repeat(64 - h.length); };
const say = (...a) => console.log(`node-client ${PROTO}:`, ...a);

async function http1() {
  for (const path of ['/item/1', '/item/2', '/item/3']) { const r = await fetch(BASE + path); say(path, r.status, (await r.text()).length); }
  const r = await fetch(BASE + '/echo', { method: 'POST', body: payload('hello', 1) });
  say('POST /echo', r.status, (await r.text()).length);
}

async function sse() {
  if (FAULT === 'chatty') {  // a plain GET, then bytes written on its socket while the events arrive: talking back
    await new Promise((resolve) => {
      const req = http.get({ host: HOST, port: PORT, path: '/events', headers: { accept: 'text/event-stream' } }, (res) => {
        res.on('data', (d) => say('event bytes', d.length)); res.on('end', resolve);
        setTimeout(() => res.socket.write('ping\n'), 800);
      });
      req.on('error', resolve);
      setTimeout(resolve, 4000);
    });
    return;
  }
  const r = await fetch(BASE + '/events', { headers: { accept: 'text/event-stream' } });
  let events = 0;
  const dec = new TextDecoder();
  for await (const chunk of r.body) { events += (dec.decode(chunk).match(/\n\n/g) || []).length; if (events >= 6) break; }
  say('events', events);
}

async function longpoll() {
  let after = null;
  for (let i = 0; i < 4; i += 1) {
    const text = await (await fetch(BASE + '/poll' + (after === null ? '' : `?after=${after}`))).text();
    after = Number(text.split(' ')[1]); say('poll ->', text.slice(0, 12));
  }
}

async function duplex() {  // undici fetch streams the request body while the response streams back
  let n = 0;
  const body = new ReadableStream({ async pull(c) {
    n += 1; if (n > 5) return c.close(); await sleep(300); c.enqueue(new TextEncoder().encode(payload('piece', n)));
  } });
  const r = await fetch(BASE + '/duplex', { method: 'POST', body, duplex: 'half', headers: { 'content-type': 'text/plain' } });
  say('duplex', r.status, (await r.text()).split('\n').length);
}

async function websocket() {
  const WebSocket = require('ws');
  const ws = new WebSocket(`ws://${HOST}:${PORT}/ticks`, { perMessageDeflate: false });
  let got = 0;
  await new Promise((resolve, reject) => {
    ws.on('open', async () => { for (let i = 1; i <= 3; i += 1) { await sleep(400); ws.send(payload('hello', i)); } });
    ws.on('message', () => { got += 1; if (got >= 9) ws.close(1000); });
    ws.on('close', resolve); ws.on('error', reject);
    setTimeout(() => ws.close(1000), 4000);
  });
  say('messages', got);
}

function h2get(session, path) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path });
    let size = 0; req.on('data', (d) => { size += d.length; }); req.on('end', () => resolve(size)); req.on('error', reject);
  });
}

async function h2() {
  const session = http2.connect(BASE);
  say('sizes', await Promise.all(['/item/1', '/item/2', '/item/3'].map((p) => h2get(session, p))));
  session.close();
}

async function h2push() {
  const session = http2.connect(BASE);  // node's client allows push (SETTINGS_ENABLE_PUSH=1)
  let pushed = 0;
  session.on('stream', (stream, headers) => { pushed += 1; say('pushed', headers[':path']); stream.resume(); });
  await h2get(session, '/');
  await sleep(300);
  const refusing = http2.connect(BASE, { settings: { enablePush: false } });  // and one that says no to push
  await h2get(refusing, '/');
  say('pushes', pushed);
  session.close(); refusing.close();
}

async function grpc() {
  const g = require('@grpc/grpc-js');
  const id = (b) => b;
  const Client = g.makeGenericClientConstructor({ Chat: { path: '/duplexlab.Ticker/Chat', requestStream: true,
    responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } });
  const client = new Client(`${HOST}:${PORT}`, g.credentials.createInsecure());
  const call = client.Chat();
  let got = 0;
  const done = new Promise((resolve, reject) => { call.on('data', () => { got += 1; }); call.on('end', resolve); call.on('error', reject); });
  for (let i = 1; i <= 3; i += 1) { await sleep(300); call.write(Buffer.from(payload('hello', i))); }
  call.end();
  await done; say('messages', got); client.close();
}

async function socketio() {
  const { io } = require('socket.io-client');
  const socket = io(BASE, { transports: ['polling', 'websocket'] });
  let ticks = 0;
  await new Promise((resolve) => {
    socket.on('tick', () => { ticks += 1; });
    socket.on('connect', async () => { for (let i = 1; i <= 3; i += 1) { await sleep(400); socket.emit('hello', payload('hello', i)); } });
    setTimeout(resolve, 3000);
  });
  say('ticks', ticks, 'transport', socket.io.engine && socket.io.engine.transport.name);
  socket.close();
}

const RUN = { http1, sse, longpoll, 'http1-duplex': duplex, websocket, http2: h2, h2push, grpc, socketio };
const timer = setTimeout(() => { say('timed out'); process.exit(3); }, 20000);
RUN[PROTO]().then(() => { clearTimeout(timer); process.exit(0); }, (e) => { say('failed:', e && e.message); process.exit(1); });
