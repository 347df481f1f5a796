// Reads a JsSIP UA configuration (as sipauth's jssip_config produces it) on standard input and
// hands it to JsSIP's own UA constructor, which validates every parameter. `sockets` entries are
// WebSocket URIs and are wrapped in JsSIP-compatible sockets first. Prints "ok" and exits 0 when
// JsSIP accepts it; prints JsSIP's error and exits 1 otherwise. Nothing connects: the UA is never
// started.
import JsSIP from 'jssip';
import NodeWebSocket from 'jssip-node-websocket';

let input = '';
for await (const chunk of process.stdin) input += chunk;
try {
  const config = JSON.parse(input);
  config.sockets = (config.sockets || []).map((uri) => new NodeWebSocket(uri));
  const ua = new JsSIP.UA(config);
  const registrar = ua.registrator && ua._configuration ? ua._configuration.uri.toString() : '';
  console.log(JSON.stringify({ ok: true, uri: registrar, authorization_user: ua._configuration.authorization_user }));
  process.exit(0);
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: `${e.name}: ${e.message}`, parameter: e.parameter }));
  process.exit(1);
}
