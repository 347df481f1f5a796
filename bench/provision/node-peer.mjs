// The guide's "Backend Token Validation Pattern" written as its backend example would be, the
// peer sipauth's provisioning service is measured against: express, jose (RS256 verification
// with a remote JWKS, cached), better-sqlite3 (an upsert of the account and the Kamailio
// subscriber row, WAL), node:crypto (HMAC-derived password, MD5 ha1). One process. Usage:
//   node node-peer.mjs ISSUER PORT DATABASE
import express from 'express';
import Database from 'better-sqlite3';
import { createHash, createHmac } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [issuer, port, file] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`CREATE TABLE IF NOT EXISTS account (issuer TEXT, subject TEXT, username TEXT UNIQUE,
  display_name TEXT, generation INTEGER DEFAULT 0, PRIMARY KEY (issuer, subject));
  CREATE TABLE IF NOT EXISTS subscriber (id INTEGER PRIMARY KEY, username TEXT, domain TEXT,
  password TEXT DEFAULT '', ha1 TEXT, ha1b TEXT, UNIQUE (username, domain));
  CREATE TABLE IF NOT EXISTS audit (at INTEGER, issuer TEXT, subject TEXT, action TEXT, outcome TEXT);`);
const secret = 'bench-secret-bench-secret-bench!';
const domain = 'sip.example.com';
const upsertAccount = db.prepare(`INSERT INTO account (issuer, subject, username, display_name)
  VALUES (?, ?, ?, ?) ON CONFLICT (issuer, subject) DO UPDATE SET display_name = excluded.display_name
  RETURNING username, generation`);
const upsertSubscriber = db.prepare(`INSERT INTO subscriber (username, domain, ha1, ha1b) VALUES (?, ?, ?, ?)
  ON CONFLICT (username, domain) DO UPDATE SET ha1 = excluded.ha1, ha1b = excluded.ha1b`);
const audit = db.prepare('INSERT INTO audit VALUES (?, ?, ?, ?, ?)');
const provision = db.transaction((claims) => {
  const username = claims.email.split('@')[0].toLowerCase().replace(/[^a-z0-9._-]/g, '');
  const row = upsertAccount.get(claims.iss, claims.sub, username, claims.name ?? username);
  const password = createHmac('sha256', secret).update(`${claims.iss}|${claims.sub}|${row.generation}`)
    .digest('base64url').slice(0, 32);
  const md5 = (s) => createHash('md5').update(s).digest('hex');
  upsertSubscriber.run(row.username, domain, md5(`${row.username}:${domain}:${password}`),
    md5(`${row.username}@${domain}:${domain}:${password}`));
  audit.run(Math.floor(Date.now() / 1000), claims.iss, claims.sub, 'provision', 'ok');
  return { username: row.username, password, displayName: claims.name ?? row.username };
});

const app = express();
app.use(express.json({ limit: '64kb' }));
app.post('/api/sip/provision', async (req, res) => {
  const token = (req.headers.authorization ?? '').replace(/^Bearer /i, '');
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(token, jwks, { issuer, audience: 'bench', algorithms: ['RS256'] }));
  } catch {
    return res.status(401).json({ error: 'invalid_token', error_description: 'the token failed verification' });
  }
  const p = provision(claims);
  res.json({ username: p.username, password: p.password, sipPassword: p.password,
    sipUri: `sip:${p.username}@${domain}`, sipDomain: domain, wsServerUri: 'wss://sip.example.com/ws',
    realm: domain, authorizationUsername: p.username, displayName: p.displayName, expiresAt: null, sipServer: null });
});
app.listen(Number(port), '127.0.0.1', () => console.error(`listening on http://127.0.0.1:${port}`));
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
