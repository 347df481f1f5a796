// The benchmark's identity provider: an RS256 key, OpenID discovery and its JWKS on a free
// loopback port, and N signed ID tokens (distinct people) written one per line. Usage:
//   node issuer.mjs TOKENS_FILE ISSUER_FILE [N]
// It owns nothing else: the load, the services and the report are run.sh's.
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';

const [tokensFile, issuerFile, count = '1000'] = process.argv.slice(2);
const { publicKey, privateKey } = await generateKeyPair('RS256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' };

const server = http.createServer((req, res) => {
  const base = `http://127.0.0.1:${server.address().port}`;
  const send = (body) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(body)); };
  if (req.url === '/.well-known/openid-configuration') {
    send({ issuer: base, jwks_uri: `${base}/jwks`, authorization_endpoint: `${base}/auth`,
      token_endpoint: `${base}/token`, response_types_supported: ['code'],
      subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] });
  } else if (req.url === '/jwks') {
    send({ keys: [jwk] });
  } else {
    res.statusCode = 404; res.end();
  }
});
server.listen(0, '127.0.0.1', async () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const now = Math.floor(Date.now() / 1000);
  const lines = [];
  for (let i = 0; i < Number(count); i++) {
    lines.push(await new SignJWT({ email: `user${i}@example.com`, email_verified: true, name: `User ${i}` })
      .setProtectedHeader({ alg: 'RS256', kid: 'bench', typ: 'JWT' })
      .setIssuer(issuer).setSubject(`user-${i}`).setAudience('bench')
      .setIssuedAt(now).setExpirationTime(now + 4 * 3600).sign(privateKey));
  }
  writeFileSync(tokensFile, lines.join('\n') + '\n');
  writeFileSync(issuerFile, issuer);
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
