import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ApiError, type ApiEvent, isMethod, toApiErrorBody } from '../../core/api/contract.js';
import type { ErrorKind } from '../../core/errors.js';
import type { GradProofService } from './service.js';
import { serveStatic } from './static-files.js';

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
 * Host header must name this server as 127.0.0.1:PORT or localhost:PORT: a
 * name that merely resolves here (DNS rebinding) is refused.
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
  // Filled in once the port is known: the Host values this server answers to, and
  // the matching origins that may call the API.
  const hosts = new Set<string>();
  const origins = new Set<string>();

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
    if (!hosts.has((req.headers.host ?? '').toLowerCase())) {
      res.writeHead(421, { 'Content-Type': 'text/plain' }).end('wrong host');
      return;
    }
    // A request target that is not a path (`//`, `//[::1`) cannot be parsed: the
    // client's error, and one that must not reach the handler's catch-all below.
    let url: URL;
    try {
      url = new URL(req.url ?? '/', origin);
    } catch {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('malformed request target');
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
        if (req.headers.origin && !origins.has(req.headers.origin.toLowerCase()))
          return send(res, 403, { error: 'cross-origin requests are refused', kind: 'invalid' });
        if (!/^application\/json\b/.test(req.headers['content-type'] ?? ''))
          return send(res, 415, { error: 'send application/json', kind: 'invalid' });
        let method: string;
        try {
          method = decodeURIComponent(url.pathname.slice('/api/call/'.length));
        } catch {
          return send(res, 400, { error: 'malformed percent-escape in the method name', kind: 'invalid' });
        }
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
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'Content-Type': 'text/plain', Allow: 'GET, HEAD' }).end('use GET');
        return;
      }
      const file = await serveStatic(staticDir, url.pathname);
      const headers: Record<string, string> = {
        ...file.headers,
        'Referrer-Policy': 'no-referrer',
        'X-Frame-Options': 'DENY',
      };
      if (file.status === 200 && url.searchParams.has('token'))
        headers['Set-Cookie'] = `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
      res.writeHead(file.status, headers).end(file.body);
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
  for (const name of ['127.0.0.1', 'localhost']) {
    hosts.add(`${name}:${actual}`);
    origins.add(`http://${name}:${actual}`);
  }
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
