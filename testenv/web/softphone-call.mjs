// "Ready to make calls!", proven: two Debian Chromium instances (playwright-core) with fake
// media devices open the example Leptos app at BASE (served by `sipauth serve --static-dir`),
// sign in at oidc-provider as CALLER and CALLEE, register with JsSIP at Kamailio over
// WebSocket, CALLER calls CALLEE by name, CALLEE answers, both see the call established and RTP
// flowing (getStats), CALLER hangs up, both return to idle; then CALLER keeps a copy of its SIP
// credentials and signs out. Screenshots go to ARTIFACTS.
// Usage: node softphone-call.mjs BASE CALLER CALLEE ARTIFACTS
// Prints one JSON line with what it saw; exits 0 when it got through every step (the Rust test
// checks the values, and that the kept credentials no longer register).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base, caller, callee, artifacts] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });
const result = {};
const done = (ok, extra = {}) => { console.log(JSON.stringify({ ok, ...result, ...extra })); process.exit(ok ? 0 : 1); };
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required'];
const launch = () => chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args });
const state = (page) => page.locator('#phone-status').getAttribute('data-state');
const waitState = (page, test, timeout = 20000) => page.waitForFunction(
  (t) => new RegExp(t).test(document.querySelector('#phone-status')?.dataset.state || ''),
  test, { timeout, polling: 100 });
const errors = [];

async function signIn(browser, login) {
  const page = await browser.newPage();
  if (process.env.SOFTPHONE_DEBUG) page.on('console', (m) => console.error(login, m.text()));
  page.on('pageerror', (e) => errors.push(`${login}: ${e}`));
  await page.goto(base);
  await page.locator('#sign-in').waitFor({ timeout: 30000 });
  await page.click('#sign-in');
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any');
  await page.click('button[type=submit]');
  await page.click('button[type=submit]');
  await page.locator('#sip-uri').waitFor({ timeout: 30000 });
  await waitState(page, '^registered$');
  return page;
}

const [one, two] = await Promise.all([launch(), launch()]);
try {
  const a = await signIn(one, caller);
  const b = await signIn(two, callee);
  result.callerUri = await a.locator('#sip-uri').innerText();
  result.calleeUri = await b.locator('#sip-uri').innerText();
  result.registered = [await state(a), await state(b)];
  result.statusText = await a.locator('#phone-status').innerText();
  await a.screenshot({ path: `${artifacts}/softphone-1-registered.png`, fullPage: true });

  await a.fill('#callee', callee);
  await a.click('#call');
  await b.locator('#answer').waitFor({ timeout: 20000 });
  result.incoming = await state(b);
  await b.click('#answer');
  await waitState(a, '^in_call$');
  await waitState(b, '^in_call$');
  // Let media flow, then read both sides' statistics.
  await new Promise((r) => setTimeout(r, 3000));
  result.callerStats = await a.evaluate(() => window.sipauthPhone.stats());
  result.calleeStats = await b.evaluate(() => window.sipauthPhone.stats());
  result.inCall = [await state(a), await state(b)];
  await a.screenshot({ path: `${artifacts}/softphone-2-in-call.png`, fullPage: true });

  await a.click('#hangup');
  await waitState(a, '^ended:');
  await waitState(b, '^ended:');
  result.ended = [await state(a), await state(b)];
  // Back to idle: both can call again.
  result.idle = [await a.locator('#call').isVisible(), await b.locator('#call').isVisible()];

  // The caller's credentials, as its browser held them, then signing out.
  result.kept = await a.evaluate(() => JSON.parse(localStorage.getItem('sipauth_session')).sip_credentials);
  await a.click('#sign-out');
  await a.locator('#sign-in').waitFor({ timeout: 30000 });
  result.afterSignOut = await a.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('sipauth_')));
  result.pageErrors = errors;
  done(true);
} catch (e) {
  const states = [];
  for (const b of [one, two]) {
    for (const p of b.contexts().flatMap((c) => c.pages())) {
      states.push(await p.locator('#phone-status').getAttribute('data-state').catch(() => null));
    }
  }
  done(false, { error: String(e), pageErrors: errors, states });
} finally {
  await one.close();
  await two.close();
}
