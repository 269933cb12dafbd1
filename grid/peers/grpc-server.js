// The grid's grpc-js server: one bidirectional method (/duplexlab.Ticker/Chat, as services/grpc), generic
// handlers with identity serializers (no protoc). It ticks 6 times 0.25 s apart unasked and echoes each message.
'use strict';
const g = require('@grpc/grpc-js');

const id = (b) => b;
const payload = (tag, n) => { const h = `${tag} ${n} `; return h + '.'.repeat(64 - h.length); };
const server = new g.Server();
server.addService({ Chat: { path: '/duplexlab.Ticker/Chat', requestStream: true, responseStream: true,
  requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } }, {
  Chat(call) {
    let n = 0; let clientDone = false;
    const finish = () => { if (clientDone && n >= 6) call.end(); };
    const t = setInterval(() => { n += 1; call.write(Buffer.from(payload('tick', n))); if (n >= 6) { clearInterval(t); finish(); } }, 250);
    call.on('data', (m) => call.write(Buffer.from(('echo ' + m.toString()).slice(0, 64))));
    call.on('end', () => { clientDone = true; finish(); });
    call.on('cancelled', () => clearInterval(t));
  },
});
server.bindAsync('0.0.0.0:8080', g.ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  if (server.start) try { server.start(); } catch (e) { /* started by bindAsync in newer grpc-js */ }
  console.log('grpc-js serving on 8080');
});
