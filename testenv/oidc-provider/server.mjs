// The real OpenID provider sipauth's tests sign in against: panva/oidc-provider (OpenID Certified),
// configured for loopback use. It owns only the provider's configuration: which clients exist, which
// features are on, what the accounts' claims are. Starting, stopping and port choice belong to
// ../start.sh and ../stop.sh; the tests drive its login and consent forms over HTTP.
//
// Environment: PORT (default 0 = a free port), ISSUER_FILE (where to write the issuer URL once
// listening). devInteractions accept any login and ignore the password: the login becomes `sub`.
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import Provider, { errors } from 'oidc-provider';

const host = '127.0.0.1';
const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.env.PORT || 0), host, resolve));
const issuer = `http://${host}:${server.address().port}`;

// Every client uses the RFC 8252 loopback redirect: any port on 127.0.0.1 is accepted.
// The web sign-in page of `sipauth serve` redirects to /auth/callback on its own port, the example
// Leptos app (testenv/run-leptos-example.sh) to the guide's /oauth/callback on its own.
const loopback = ['http://127.0.0.1/callback', 'http://127.0.0.1/auth/callback',
  'http://127.0.0.1/oauth/callback'];
const grants = ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'];
const SHORT_LIVED = 'sipauth-short-lived';
// A public client whose access tokens are RFC 9068 JWTs for the provisioning API (resource
// indicators, RFC 8707): the resource is its default, so a plain sign-in gets one.
const JWT_AT = 'sipauth-jwt-at';
const PROVISION_RESOURCE = 'urn:sipauth:provision';

const clients = [
  // A public native client: PKCE, no secret (the CLI, a desktop softphone).
  { client_id: 'sipauth-public', token_endpoint_auth_method: 'none', application_type: 'native',
    redirect_uris: loopback, grant_types: grants, response_types: ['code'] },
  // The same, with access tokens that live 5 s (token lifecycle tests).
  { client_id: SHORT_LIVED, token_endpoint_auth_method: 'none', application_type: 'native',
    redirect_uris: loopback, grant_types: grants, response_types: ['code'] },
  { client_id: JWT_AT, token_endpoint_auth_method: 'none', application_type: 'native',
    redirect_uris: loopback, grant_types: grants, response_types: ['code'] },
  // Confidential clients (the provisioning service): HTTP Basic, and client_secret_post.
  { client_id: 'sipauth-confidential', client_secret: 'sipauth-testenv-basic-secret',
    token_endpoint_auth_method: 'client_secret_basic', application_type: 'native',
    redirect_uris: loopback, grant_types: grants, response_types: ['code'] },
  { client_id: 'sipauth-confidential-post', client_secret: 'sipauth-testenv-post-secret',
    token_endpoint_auth_method: 'client_secret_post', application_type: 'native',
    redirect_uris: loopback, grant_types: grants, response_types: ['code'] },
];

// Group memberships, as a directory would hold them: set by a test with
// PUT /testenv/groups/<login> and a JSON array of group names (loopback only, like everything
// here). Tokens issued after the change carry the new `groups`; introspection answers them.
const groups = new Map();

function titleCase(login) {
  return login.charAt(0).toUpperCase() + login.slice(1);
}

const provider = new Provider(issuer, {
  clients,
  clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
  cookies: { keys: ['sipauth-testenv-cookie-signing-key'] },
  pkce: { required: () => true },
  // Single-page apps (the example Leptos app) call the token, userinfo and revocation endpoints
  // from their own loopback origin.
  clientBasedCORS: (ctx, origin) => /^http:\/\/127\.0\.0\.1:\d+$/.test(origin),
  scopes: ['openid', 'email', 'profile', 'offline_access'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
  },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    // Back-channel logout (sipauth serve's /backchannel-logout), with clients registered at
    // run time (RFC 7591): a test registers the web page's client with its own port.
    backchannelLogout: { enabled: true },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) =>
        oneOf || (client && client.clientId === JWT_AT ? PROVISION_RESOURCE : undefined),
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource) => {
        if (resource !== PROVISION_RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: 'openid email profile',
          audience: PROVISION_RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  // Its outgoing requests (back-channel logout) go to services on loopback, which its SSRF
  // guard refuses as special-use addresses: on this loopback test bed, without the guard.
  fetch: (url, options) => {
    const { dispatcher, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
  // The person's groups in every access token (introspection answers them; a JWT access
  // token carries them), as directories' group claims do.
  extraTokenClaims: async (ctx, token) => {
    const member = groups.get(token.accountId);
    return member && member.length ? { groups: member } : undefined;
  },
  // Always issue a refresh token when the client may use one (see test-peers.md gotcha 2).
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: (ctx, token, client) => (client && client.clientId === SHORT_LIVED ? 5 : 3600),
    AuthorizationCode: 60,
    DeviceCode: 600,
    Grant: 14 * 24 * 3600,
    IdToken: 3600,
    Interaction: 3600,
    RefreshToken: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.com`,
          email_verified: true,
          name: `${titleCase(id)} Example`,
          given_name: titleCase(id),
          family_name: 'Example',
          preferred_username: id,
        };
      },
    };
  },
});

// A failed back-channel logout is otherwise silent: say it in the provider's log.
provider.on('backchannel.error', (ctx, err, client) => {
  console.error(`backchannel.error ${client.clientId}: ${err.message} ${err.cause ? err.cause : ""}`);
});
const callback = provider.callback();
server.on('request', (req, res) => {
  const m = /^\/testenv\/groups\/([^/]+)$/.exec(req.url);
  if (!m || req.method !== 'PUT') { callback(req, res); return; }
  let body = '';
  req.on('data', (chunk) => { body += chunk; if (body.length > 4096) req.destroy(); });
  req.on('end', () => {
    try {
      const list = JSON.parse(body);
      if (!Array.isArray(list) || !list.every((g) => typeof g === 'string')) throw new Error('not a list of names');
      groups.set(decodeURIComponent(m[1]), list);
      res.writeHead(204).end();
    } catch (e) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(String(e.message));
    }
  });
});
if (process.env.ISSUER_FILE) writeFileSync(process.env.ISSUER_FILE, issuer);
console.log(JSON.stringify({ issuer }));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
