// The account page's "Check registration", in Debian Chromium (playwright-core): sign in at
// `sipauth serve --dev`'s development provider as Alice, press "Check registration", and report
// what the page says (registered, refused, or that no SIP server answers). A screenshot of the
// result goes to ARTIFACTS as check-registration-NAME.png.
// Usage: node check-registration.mjs BASE_URL NAME ARTIFACTS_DIR
// Prints one JSON line: {"ok": true, "outcome": ..., "text": ...}.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base, name, artifacts] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
try {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.getByRole('link', { name: /Sign in with/ }).first().click();
  await page.getByRole('button', { name: 'Continue as Alice' }).click();
  await page.waitForURL(/\/account$/);
  await page.click('#check-registration');
  await page.locator('#check-result').waitFor({ timeout: 20000 });
  const outcome = await page.locator('#check-result').getAttribute('data-outcome');
  const text = await page.locator('main, body').first().innerText();
  await page.screenshot({ path: `${artifacts}/check-registration-${name}.png`, fullPage: true });
  console.log(JSON.stringify({ ok: true, outcome, text }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e) }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
