/**
 * A client that ignores the protocol: raw engine.io long-polling requests and
 * websocket upgrades, from any loopback source address (127.0.0.0/8 is all
 * local, so 127.0.0.2 plays "another machine").
 */
import { request } from 'node:http';
import WebSocket from 'ws';

/** engine.io v4 separates packets in one long-polling payload with a record separator. */
export const SEP = '\x1e';

export interface RawOptions {
  localAddress?: string;
  cookie?: string;
  headers?: Record<string, string>;
}

export interface RawResponse {
  status: number;
  body: string;
  setCookie: string[];
}

export function http(
  method: 'GET' | 'POST',
  url: string,
  body?: string,
  options: RawOptions = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent: false,
        localAddress: options.localAddress,
        headers: {
          ...(body !== undefined ? { 'content-type': 'text/plain;charset=UTF-8' } : {}),
          ...(options.cookie ? { cookie: options.cookie } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: text,
            setCookie: (res.headers['set-cookie'] as string[]) ?? [],
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export interface PollingSession {
  sid: string;
  cookie?: string;
  url(): string;
  get(options?: RawOptions): Promise<RawResponse>;
  post(payload: string, options?: RawOptions): Promise<RawResponse>;
}

/** An engine.io long-polling handshake, as socket.io-client's first request. */
export async function openPolling(base: string, options: RawOptions = {}): Promise<PollingSession> {
  const res = await http('GET', `${base}/socket.io/?EIO=4&transport=polling`, undefined, options);
  if (res.status !== 200 || !res.body.startsWith('0')) throw new Error(`handshake failed: ${res.status} ${res.body}`);
  const { sid } = JSON.parse(res.body.slice(1)) as { sid: string };
  const cookie = res.setCookie.map((c) => c.split(';')[0]).join('; ') || undefined;
  const url = (): string => `${base}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;
  const withCookie = (o: RawOptions = {}): RawOptions => ({ localAddress: options.localAddress, cookie, ...o });
  return {
    sid,
    cookie,
    url,
    get: (o) => http('GET', url(), undefined, withCookie(o)),
    post: (payload, o) => http('POST', url(), payload, withCookie(o)),
  };
}

/** Opens a websocket upgrade (optionally for an existing sid) and resolves with the socket, or rejects with the HTTP status. */
export function openWebSocket(base: string, sid?: string, options: RawOptions = {}): Promise<WebSocket> {
  const url = `${base.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket${sid ? `&sid=${encodeURIComponent(sid)}` : ''}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      localAddress: options.localAddress,
      headers: { ...(options.cookie ? { cookie: options.cookie } : {}), ...options.headers },
    });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })),
    );
    ws.once('error', reject);
  });
}
