// Registers with a JsSIP UA configuration read on standard input (as `sipauth credentials
// --format jssip` prints it), over Node's WebSocket: JsSIP is the SIP library the reference web
// library is built on. Prints one JSON line {registered, status, cause} and exits 0 on a 200,
// 1 on a refusal, 2 on a timeout or a broken configuration. Unregisters before exiting.
import JsSIP from 'jssip';
import NodeWebSocket from 'jssip-node-websocket';

const timeout = Number(process.env.REGISTER_TIMEOUT_MS || 10000);
let input = '';
for await (const chunk of process.stdin) input += chunk;
const done = (code, result) => { console.log(JSON.stringify(result)); process.exit(code); };
setTimeout(() => done(2, { registered: false, cause: 'timeout' }), timeout);
try {
  const config = JSON.parse(input);
  config.sockets = (config.sockets || []).map((uri) => new NodeWebSocket(uri, { protocols: 'sip' }));
  config.register = true;
  const ua = new JsSIP.UA(config);
  ua.on('registered', (e) => {
    const status = e.response ? e.response.status_code : 200;
    ua.unregister({ all: false });
    setTimeout(() => done(0, { registered: true, status }), 300);
  });
  ua.on('registrationFailed', (e) =>
    done(1, { registered: false, status: e.response ? e.response.status_code : null, cause: e.cause }));
  ua.start();
} catch (e) {
  done(2, { registered: false, cause: `${e.name}: ${e.message}` });
}
