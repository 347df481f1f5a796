// Drives Debian Chromium (playwright-core, no downloaded browser) through sipauth's web sign-in
// page: open the page, sign in at the provider, see the account page with the SIP URI, download
// the JsSIP configuration and parse it, sign out; screenshots at desktop and phone width go to
// ARTIFACTS. The provider's login step is chosen by MODE:
//   dev           the development identity provider (a button per demo user), by keyboard only
//   oidc-provider panva's oidc-provider (login and consent forms)
//   cancel        the development identity provider, cancelled: the friendly page
// Usage: node browser-signin.mjs BASE_URL MODE ARTIFACTS_DIR
// Prints one JSON line with what it saw; exits 0 when every expectation held.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';

const [base, mode, artifacts] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });
const result = { mode };
const done = (ok, extra = {}) => { console.log(JSON.stringify({ ok, ...result, ...extra })); process.exit(ok ? 0 : 1); };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
try {
  // REGISTER=1 injects JsSIP into the account page, which the page's content security policy
  // (rightly) forbids: only then is the policy bypassed.
  const context = await browser.newContext({
    acceptDownloads: true, bypassCSP: process.env.REGISTER === '1',
  });
  const page = await context.newPage();
  // The page's own style and script must pass its policy: any violation is a failure.
  result.cspViolations = 0;
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) result.cspViolations += 1; });
  await page.goto(`${base}/`);
  await page.screenshot({ path: `${artifacts}/${mode}-1-signin.png`, fullPage: true });
  if (mode === 'dev' || mode === 'cancel') {
    // Keyboard only: Tab to the first provider button, Enter; then to the user's button.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/dev-idp\/authorize/);
    await page.screenshot({ path: `${artifacts}/${mode}-2-provider.png`, fullPage: true });
    const label = mode === 'cancel' ? 'Cancel' : 'Continue as Alice';
    const button = page.getByRole('button', { name: label });
    await button.focus();
    await page.keyboard.press('Enter');
  } else {
    await page.getByRole('link', { name: /Sign in with/ }).last().click();
    await page.fill('input[name=login]', 'olivia');
    await page.fill('input[name=password]', 'any');
    await page.click('button[type=submit]');
    await page.click('button[type=submit]');
  }
  if (mode === 'cancel') {
    // Enter submitted the form: wait for the callback's page, not the current one.
    await page.waitForURL(/\/auth\/callback/);
    await page.waitForLoadState();
    result.heading = await page.locator('h1').innerText();
    const cookies = await context.cookies();
    result.sessionCookie = cookies.some((c) => c.name === 'sipauth_session');
    await page.screenshot({ path: `${artifacts}/cancel-3-error.png`, fullPage: true });
    done(result.heading === 'You cancelled the sign-in' && !result.sessionCookie);
  }
  await page.waitForURL(/\/account$/);
  result.sipUri = await page.locator('#sip-uri').innerText();
  const cookie = (await context.cookies()).find((c) => c.name === 'sipauth_session');
  result.cookie = cookie && { httpOnly: cookie.httpOnly, sameSite: cookie.sameSite, secure: cookie.secure };
  await page.screenshot({ path: `${artifacts}/${mode}-3-account.png`, fullPage: true });
  await page.setViewportSize({ width: 375, height: 800 });
  await page.screenshot({ path: `${artifacts}/${mode}-4-account-phone.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  // The password is hidden until asked for.
  result.passwordHidden = !(await page.locator('#sip-password').isVisible());
  await page.getByText('Show password').click();
  result.passwordShown = await page.locator('#sip-password').isVisible();
  // The copy button's script runs under the policy (its click reaches the clipboard API).
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  await page.locator('#copy').click();
  result.copied = (await page.evaluate(() => navigator.clipboard.readText()))
    === (await page.locator('#sip-password').innerText());
  // Download the JsSIP configuration.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: /JsSIP configuration/ }).click(),
  ]);
  const file = `${artifacts}/${mode}-jssip.json`;
  await download.saveAs(file);
  const jssip = JSON.parse(readFileSync(file, 'utf8'));
  result.jssipUri = jssip.uri;
  result.jssipPasswordSet = typeof jssip.password === 'string' && jssip.password.length > 0;
  // REGISTER=1: JsSIP, bundled by esbuild, registers from this page with what it downloaded.
  if (process.env.REGISTER === '1') {
    await page.addScriptTag({ path: new URL('./dist/jssip.js', import.meta.url).pathname });
    result.registered = await page.evaluate((config) => new Promise((resolve) => {
      const ua = new window.JsSIP.UA({
        ...config, sockets: [new window.JsSIP.WebSocketInterface(config.sockets[0])], register: true,
      });
      ua.on('registered', () => { ua.unregister(); setTimeout(() => { ua.stop(); resolve(true); }, 300); });
      ua.on('registrationFailed', (e) => resolve(`failed: ${e.cause}`));
      setTimeout(() => resolve('timeout'), 10000);
      ua.start();
    }), jssip);
  }
  // Sign out; the old cookie no longer opens the account page.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/`);
  if (cookie) {
    await context.addCookies([{ name: cookie.name, value: cookie.value, url: base }]);
  }
  await page.goto(`${base}/account`);
  result.afterSignOut = new URL(page.url()).pathname;
  done(
    result.sipUri === result.jssipUri && result.jssipPasswordSet && result.passwordHidden &&
      result.passwordShown && result.afterSignOut === '/' && result.cookie?.httpOnly === true &&
      result.cspViolations === 0 && result.copied === true &&
      result.cookie?.sameSite === 'Lax' && (process.env.REGISTER !== '1' || result.registered === true),
  );
} catch (e) {
  done(false, { error: String(e) });
} finally {
  await browser.close();
}
