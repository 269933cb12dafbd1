// The grid's socket.io server (npm socket.io 4.8 on node's http): it emits 'tick' 6 times 0.25 s apart unasked and
// echoes each 'hello'. Clients start with HTTP long polling and then upgrade to a WebSocket. It also serves the
// grid's browser page, whose socket.io client it serves itself (/socket.io/socket.io.js).
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const { Server } = require('socket.io');

const TLS = process.env.TLS === '1';
const PAGE = fs.readFileSync('/opt/grid/peers/page.html');
const page = (req, res) => {
  if (req.url.startsWith('/page.html')) { res.writeHead(200, { 'content-type': 'text/html' }); res.end(PAGE); }
};
const httpServer = TLS ? https.createServer({ key: fs.readFileSync('/opt/grid/tls/key.pem'),
  cert: fs.readFileSync('/opt/grid/tls/cert.pem') }, page) : http.createServer(page);
const io = new Server(httpServer, { perMessageDeflate: false });
const payload = (tag, n) => { const h = `${tag} ${n} `; return h + '.'.repeat(64 - h.length); };
io.on('connection', (socket) => {
  let n = 0;
  const t = setInterval(() => { n += 1; socket.emit('tick', payload('tick', n)); if (n >= 6) clearInterval(t); }, 250);
  socket.on('hello', (m) => socket.emit('echo', String(m).slice(0, 64)));
  socket.on('disconnect', () => clearInterval(t));
});
const PORT = TLS ? 8443 : 8080;
httpServer.listen(PORT, '0.0.0.0', () => console.log(`socket.io serving on ${PORT}`));
