// A certified relying party (panva's openid-client 6) against sipauth's development identity
// provider: discovery, Authorization Code with PKCE S256 and a nonce, the login form posted as a
// browser would, the code exchange with the ID token validated by openid-client (iss, aud, exp,
// nonce, RS256 signature from the JWKS, RFC 9207 iss in the callback), userinfo, then a refresh
// (with offline_access) and the rotated refresh token's reuse refused. Usage:
//   node rp-check.mjs ISSUER REDIRECT_URI
// Prints one JSON line; exits 0 when every step passed.
import * as client from 'openid-client';

const [issuer, redirect] = process.argv.slice(2);
const fail = (step, e) => { console.log(JSON.stringify({ ok: false, step, error: String(e) })); process.exit(1); };
const options = issuer.startsWith('http://') ? { execute: [client.allowInsecureRequests] } : {};
let config;
try {
  config = await client.discovery(new URL(issuer), 'sipauth-dev', undefined, client.None(), options);
} catch (e) { fail('discovery', e); }
const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const nonce = client.randomNonce();
const state = client.randomState();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirect, scope: 'openid email profile offline_access',
  code_challenge: challenge, code_challenge_method: 'S256', nonce, state,
});
// The login page: one button per demo user; post the form as the browser would.
const page = await (await fetch(url)).text();
const request = page.match(/name="request" value="([^"]+)"/)?.[1];
if (!request) fail('login page', 'no request id in the login page');
const login = await fetch(`${issuer}/login`, {
  method: 'POST', redirect: 'manual',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ request, user: 'alice' }),
});
const callback = login.headers.get('location');
if (!callback) fail('login', `status ${login.status}`);
let tokens;
try {
  tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true,
  });
} catch (e) { fail('code exchange', e); }
const claims = tokens.claims();
let info;
try { info = await client.fetchUserInfo(config, tokens.access_token, claims.sub); } catch (e) { fail('userinfo', e); }
let refreshed;
try { refreshed = await client.refreshTokenGrant(config, tokens.refresh_token); } catch (e) { fail('refresh', e); }
let reuse = 'accepted';
try { await client.refreshTokenGrant(config, tokens.refresh_token); } catch (e) { reuse = e.error || String(e); }
console.log(JSON.stringify({
  ok: reuse === 'invalid_grant', sub: claims.sub, iss: claims.iss, aud: claims.aud, nonce: claims.nonce === nonce,
  email: info.email, refreshed: Boolean(refreshed.access_token), rotated: refreshed.refresh_token !== tokens.refresh_token,
  reuse,
}));
process.exit(reuse === 'invalid_grant' ? 0 : 1);
