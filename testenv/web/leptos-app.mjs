// Drives Debian Chromium (playwright-core) through the example Leptos app against oidc-provider:
// cancel at the provider and see the friendly error (Dismiss, Try again), sign in (the provider's login and consent forms), see the display name and SIP URI with the
// code gone from the address bar, reload and still be signed in, watch the 5-second access token
// be refreshed in the background, sign out and find nothing of the session left in storage.
// Screenshots go to ARTIFACTS.
// Usage: node leptos-app.mjs APP_URL LOGIN ARTIFACTS_DIR
// Prints one JSON line with what it saw; exits 0 when it got through every step (the Rust test
// checks the values).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base, login, artifacts] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });
const result = {};
const done = (ok, extra = {}) => { console.log(JSON.stringify({ ok, ...result, ...extra })); process.exit(ok ? 0 : 1); };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
const storage = (page) => page.evaluate(() => ({
  local: Object.keys(localStorage).filter((k) => k.startsWith('sipauth_')).sort(),
  session: Object.keys(sessionStorage).filter((k) => k.startsWith('sipauth_')).sort(),
}));
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base);
  await page.locator('#sign-in').waitFor({ timeout: 30000 });
  await page.screenshot({ path: `${artifacts}/leptos-1-signed-out.png`, fullPage: true });
  // The guide's error table: cancel at the provider, see the friendly error, dismiss it.
  await page.click('#sign-in');
  await page.getByText('[ Cancel ]').click();
  await page.locator('#error').waitFor({ timeout: 30000 });
  result.cancelCode = await page.locator('#error').getAttribute('data-code');
  result.cancelTitle = await page.locator('#error-title').innerText();
  result.urlAfterCancel = page.url();
  await page.screenshot({ path: `${artifacts}/leptos-1b-cancelled.png`, fullPage: true });
  await page.click('#dismiss');
  await page.locator('#error').waitFor({ state: 'detached', timeout: 10000 });
  result.signInAfterDismiss = await page.locator('#sign-in').isVisible();
  // Cancel again, then "Try again": straight back to the provider.
  await page.click('#sign-in');
  await page.getByText('[ Cancel ]').click();
  await page.locator('#try-again').click();
  await page.waitForURL(/\/interaction\//, { timeout: 30000 });
  result.tryAgainAtProvider = true;
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any');
  await page.click('button[type=submit]');
  await page.click('button[type=submit]');
  await page.locator('#sip-uri').waitFor({ timeout: 30000 });
  result.url = page.url();
  result.displayName = await page.locator('#display-name').innerText();
  result.sipUri = await page.locator('#sip-uri').innerText();
  result.wsServer = await page.locator('#ws-server').innerText();
  result.afterSignIn = await storage(page);
  await page.screenshot({ path: `${artifacts}/leptos-2-signed-in.png`, fullPage: true });

  await page.reload();
  await page.locator('#sip-uri').waitFor({ timeout: 30000 });
  result.sipUriAfterReload = await page.locator('#sip-uri').innerText();
  const firstExpiry = Number(await page.locator('#token-expires-at').innerText());
  result.firstExpiry = firstExpiry;
  // The provider's access tokens for this client live 5 s: the session refreshes at half-life.
  await page.waitForFunction(
    (before) => Number(document.querySelector('#token-expires-at')?.textContent) > before,
    firstExpiry, { timeout: 20000 });
  result.refreshedExpiry = Number(await page.locator('#token-expires-at').innerText());
  result.stateAfterRefresh = await page.locator('#state').innerText();

  await page.click('#sign-out');
  await page.locator('#sign-in').waitFor({ timeout: 30000 });
  result.afterSignOut = await storage(page);
  await page.screenshot({ path: `${artifacts}/leptos-3-signed-out-again.png`, fullPage: true });

  // A popup sign-in: the page stays, the provider opens in a window that closes itself.
  const urlBeforePopup = page.url();
  const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#sign-in-popup')]);
  // The provider still has a session from the sign-in above: it may skip the login form, or
  // ask only for consent, or answer at once; play whatever it shows until the window closes.
  let closed = false;
  popup.on('close', () => { closed = true; });
  for (let i = 0; i < 100 && !closed; i += 1) {
    try {
      if (await popup.locator('input[name=login]').isVisible()) {
        await popup.fill('input[name=login]', login);
        await popup.fill('input[name=password]', 'any');
        await popup.click('button[type=submit]');
      } else if (await popup.locator('button[type=submit]').isVisible()) {
        await popup.click('button[type=submit]');
      }
    } catch { /* the window closed under us */ }
    await new Promise((r) => setTimeout(r, 300));
  }
  result.popupClosedItself = closed;
  await page.locator('#sip-uri').waitFor({ timeout: 30000 });
  result.popupSipUri = await page.locator('#sip-uri').innerText();
  result.popupPageStayed = page.url() === urlBeforePopup;
  await page.click('#sign-out');
  await page.locator('#sign-in').waitFor({ timeout: 30000 });
  result.pageErrors = errors;
  done(true);
} catch (e) {
  done(false, { error: String(e) });
} finally {
  await browser.close();
}
