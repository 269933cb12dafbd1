// A ticker: six unprompted messages 150 ms apart, and an echo of whatever the client says.
const { WebSocketServer } = require('ws');

const mask = process.env.MASK === '1';
const wss = new WebSocketServer({ port: 8765, perMessageDeflate: false });
wss.on('connection', (ws) => {
  let n = 0;
  const timer = setInterval(() => {
    ws.send(`tick ${n++}`, { mask });
    if (n >= 6) clearInterval(timer);
  }, 150);
  ws.on('message', (data) => ws.send(`echo ${data}`, { mask }));
  ws.on('close', () => clearInterval(timer));
});
