// The example Leptos app's static server: serves DIR on 127.0.0.1:PORT (0 = a free port) with the
// page's own types (application/wasm for the module) and index.html for every path without a file
// extension, so the app's routes (its /oauth/callback) load the app. Prints `serving URL` once
// listening. Nothing else: building the app is run-leptos-example.sh's job. INDEX (default
// DIR/index.html) is the page itself, so several servers of one build can each offer their own.
// Usage: node serve.mjs DIR PORT [INDEX]
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';

const [dir, port = '0', index = join(dir, 'index.html')] = process.argv.slice(2);
const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
};

const server = http.createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  // No way out of DIR: normalized, and any `..` left is refused.
  const rel = normalize(path).replace(/^\/+/, '');
  if (rel.split('/').includes('..')) { res.writeHead(400).end(); return; }
  const file = extname(rel) ? join(dir, rel) : index;
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': types[extname(file)] || 'application/octet-stream',
      'cache-control': 'no-store' });
    res.end(body);
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }
});
server.listen(Number(port), '127.0.0.1', () => {
  console.log(`serving http://127.0.0.1:${server.address().port}/`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
