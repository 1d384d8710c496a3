import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ApiError, type ApiEvent, isMethod, toApiErrorBody } from '../../core/api/contract.js';
import type { ErrorKind } from '../../core/errors.js';
import type { GradProofService } from './service.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

const COOKIE = 'gradproof_token';

/** Each kind of error as an HTTP status. */
const HTTP_STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  input: 400,
  'not-found': 404,
  subject: 422,
  cancelled: 409,
  internal: 500,
};
const MAX_BODY = 1 << 20;

export interface Bridge {
  url: string;
  token: string;
  port: number;
  close: () => Promise<void>;
}

/**
 * The loopback transport: the same renderer in a plain browser. Listens on
 * 127.0.0.1 only; every request must carry the random token (once in the URL,
 * then as an HttpOnly SameSite=Strict cookie, or as a Bearer header), and the
 * Host header must be this server's (no DNS rebinding).
 */
export async function startBridge(service: GradProofService, staticDir: string, port = 0): Promise<Bridge> {
  if (!existsSync(path.join(staticDir, 'index.html')))
    throw new Error(`${staticDir}/index.html is missing: run "npm run build" first`);
  const token = randomBytes(32).toString('hex');
  const tokenBuf = Buffer.from(token);
  const same = (t: string | undefined): boolean => {
    if (!t) return false;
    const b = Buffer.from(t);
    return b.length === tokenBuf.length && timingSafeEqual(b, tokenBuf);
  };
  let origin = '';

  const authorised = (req: IncomingMessage, url: URL): boolean => {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const cookie = (req.headers.cookie ?? '')
      .split(/;\s*/)
      .find((c) => c.startsWith(`${COOKIE}=`))
      ?.slice(COOKIE.length + 1);
    return same(bearer) || same(cookie) || same(url.searchParams.get('token') ?? undefined);
  };

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(text);
  };

  const readBody = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve, reject) => {
      let size = 0;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          reject(new ApiError({ error: 'request body too large', kind: 'invalid' }));
          req.destroy();
        } else chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', origin);
    if (req.headers.host !== new URL(origin).host) {
      res.writeHead(421).end('wrong host');
      return;
    }
    if (!authorised(req, url)) {
      res
        .writeHead(401, { 'Content-Type': 'text/plain' })
        .end('GradProof: this server needs its token; open the URL that `gradproof serve` printed');
      return;
    }
    try {
      if (url.pathname.startsWith('/api/call/')) {
        if (req.method !== 'POST') return send(res, 405, { error: 'use POST', kind: 'invalid' });
        if (req.headers.origin && req.headers.origin !== origin)
          return send(res, 403, { error: 'cross-origin requests are refused', kind: 'invalid' });
        if (!/^application\/json\b/.test(req.headers['content-type'] ?? ''))
          return send(res, 415, { error: 'send application/json', kind: 'invalid' });
        const method = decodeURIComponent(url.pathname.slice('/api/call/'.length));
        if (!isMethod(method)) return send(res, 404, { error: `unknown method ${method}`, kind: 'invalid' });
        let params: unknown;
        try {
          params = JSON.parse((await readBody(req)) || '{}');
        } catch (err) {
          if (err instanceof ApiError) throw err;
          return send(res, 400, { error: 'the body is not JSON', kind: 'invalid' });
        }
        return send(res, 200, { result: await service.call(method, params) });
      }
      if (url.pathname === '/api/events') {
        res.writeHead(200, {
          'Content-Type': 'text/event-stream',
          'Cache-Control': 'no-store',
          Connection: 'keep-alive',
        });
        res.write(': connected\n\n');
        const off = service.onEvent((e: ApiEvent) => res.write(`data: ${JSON.stringify(e)}\n\n`));
        const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
        req.on('close', () => {
          clearInterval(ping);
          off();
        });
        return;
      }
      // Static renderer files; the token moves from the URL into a cookie on the first load.
      const rel = path.normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, '');
      let file = path.join(staticDir, rel === '/' ? 'index.html' : rel);
      if (!file.startsWith(staticDir) || !existsSync(file) || statSync(file).isDirectory())
        file = path.join(staticDir, 'index.html');
      const headers: Record<string, string> = {
        'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'X-Frame-Options': 'DENY',
      };
      if (url.searchParams.has('token'))
        headers['Set-Cookie'] = `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
      res.writeHead(200, headers);
      createReadStream(file).pipe(res);
    } catch (err) {
      const body = toApiErrorBody(err);
      return send(res, HTTP_STATUS[body.kind], body);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${actual}`;
  return {
    url: `${origin}/?token=${token}`,
    token,
    port: actual,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
