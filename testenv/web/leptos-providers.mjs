// Drives Debian Chromium (playwright-core) through the example Leptos app offering two providers
// on one page (the guide's "Sign in with Google / Sign in with Microsoft"), each a real
// oidc-provider: sign in with the second (its login page, its account), reload and stay signed in
// with it, sign out, sign in with the first. Screenshots go to ARTIFACTS.
// Usage: node leptos-providers.mjs APP_URL LOGIN_SECOND LOGIN_FIRST ARTIFACTS_DIR
// Prints one JSON line with what it saw; exits 0 when it got through every step (the Rust test
// checks the values).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base, loginSecond, loginFirst, artifacts] = process.argv.slice(2);
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
// At the provider: its login form, then its consent form. Returns the provider's origin.
const signInAt = async (page, login) => {
  await page.waitForURL(/\/interaction\//, { timeout: 30000 });
  const origin = new URL(page.url()).origin;
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any');
  await page.click('button[type=submit]');
  await page.click('button[type=submit]');
  await page.locator('#sip-uri').waitFor({ timeout: 30000 });
  return origin;
};
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base);
  await page.locator('#sign-in-1').waitFor({ timeout: 30000 });
  result.buttons = await page.locator('button[id^=sign-in-]:not(#sign-in-popup)').allInnerTexts();
  await page.screenshot({ path: `${artifacts}/leptos-providers-1.png`, fullPage: true });

  await page.click('#sign-in-1');
  result.secondAt = await signInAt(page, loginSecond);
  result.secondProvider = await page.locator('#provider').innerText();
  result.secondSipUri = await page.locator('#sip-uri').innerText();
  result.secondStorage = await storage(page);
  result.secondUrl = page.url();
  await page.screenshot({ path: `${artifacts}/leptos-providers-2.png`, fullPage: true });
  await page.reload();
  await page.locator('#sip-uri').waitFor({ timeout: 30000 });
  result.afterReloadProvider = await page.locator('#provider').innerText();
  await page.click('#sign-out');
  await page.locator('#sign-in-0').waitFor({ timeout: 30000 });
  result.afterSignOut = await storage(page);

  await page.click('#sign-in-0');
  result.firstAt = await signInAt(page, loginFirst);
  result.firstProvider = await page.locator('#provider').innerText();
  result.firstSipUri = await page.locator('#sip-uri').innerText();
  result.firstStorage = await storage(page);
  await page.click('#sign-out');
  await page.locator('#sign-in-0').waitFor({ timeout: 30000 });
  result.pageErrors = errors;
  done(true);
} catch (e) {
  done(false, { error: String(e) });
} finally {
  await browser.close();
}
