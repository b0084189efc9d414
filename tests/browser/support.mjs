// Shared pieces of the browser tests: Debian's Chromium through playwright-core, a
// static server of the repository on 127.0.0.1, the `convoy` binary as a child process,
// and the folder screenshots are saved in. Everything started here stops with the test.

import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

/** The repository's root folder. */
export const root = resolve(here, '../..');

/** Where screenshots go. */
export const outDir = join(here, 'out');

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Starts headless Chromium; close it when done. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: CHROMIUM_FLAGS,
  });
}

/** Saves a full-page screenshot as `out/NAME.png` and returns its path. */
export async function screenshot(page, name) {
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
};

/**
 * Serves the repository's files over HTTP on 127.0.0.1 at a free port, as any static
 * server would. Resolves `{ url, close }`; pages are under `${url}/www/`.
 */
export async function serveRepository() {
  const server = createServer((request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url, 'http://x').pathname));
    const file = join(root, path);
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end('not found');
      return;
    }
    response.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    });
    createReadStream(file).pipe(response);
  });
  await new Promise((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((done) => server.close(done)),
  };
}

/** The `convoy` binary that `cargo build -p convoy` made. */
export function convoyBin() {
  const target = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
  for (const profile of ['debug', 'release']) {
    const path = join(target, profile, 'convoy');
    if (existsSync(path)) return path;
  }
  throw new Error(`no convoy binary under ${target}: run \`cargo build -p convoy\``);
}

/**
 * Starts `convoy ARGS` and waits for the line `listening on http://ADDR` that its servers
 * print first. Resolves `{ url, child, stop }`.
 */
export async function startConvoyServer(args, options = {}) {
  const child = spawn(convoyBin(), args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    ...options,
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((found, failed) => {
    lines.once('line', (line) => {
      const match = /^listening on (http:\/\/\S+)/.exec(line);
      if (match) found(match[1]);
      else failed(new Error(`convoy ${args.join(' ')} printed ${JSON.stringify(line)} first`));
    });
    child.once('exit', (code) => failed(new Error(`convoy ${args.join(' ')} exited with ${code}`)));
  });
  const stop = () =>
    new Promise((done) => {
      if (child.exitCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGKILL');
    });
  return { url, child, stop };
}
