// A web app calling sipauth serve's API from real Chromium (playwright-core), as the guide's
// single-page app does: for each PAGE API pair, open PAGE and from its script POST
// {"userInfo": {}} with the bearer TOKEN to API (absolute: another origin, CORS; relative: the
// same origin). Reports per pair the status and username the page could read, or that the
// browser blocked the answer.
// Usage: node web-origins.mjs TOKEN PAGE API [PAGE API ...]
// Prints one JSON line: {"ok": true, "results": [{page, api, status, username} | {page, api, blocked}]}.
import { chromium } from 'playwright-core';

const [token, ...pairs] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
const results = [];
try {
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const [page, api] = [pairs[i], pairs[i + 1]];
    const tab = await browser.newPage();
    await tab.goto(page);
    const seen = await tab.evaluate(async ([api, token]) => {
      try {
        const r = await fetch(api, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ userInfo: {} }),
        });
        const body = await r.json();
        return { status: r.status, username: body.username ?? null, error: body.error ?? null };
      } catch (e) {
        return { blocked: String(e) };
      }
    }, [api, token]);
    results.push({ page, api, origin: await tab.evaluate(() => location.origin), ...seen });
    await tab.close();
  }
  console.log(JSON.stringify({ ok: true, results }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e), results }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
