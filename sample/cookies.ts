import type { IncomingHttpHeaders } from 'node:http';

/** The refresh token's cookie: httpOnly (page scripts never see it), sent only to /auth. */
export const REFRESH_COOKIE = 'sample_refresh';
const PATH = '/auth';

/**
 * One cookie's value from a `Cookie` header, or undefined. By hand, so the
 * sample needs no cookie-parser: `name=value` pairs separated by `;`, the
 * first one named `name` wins (as browsers send the most specific path first).
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      return decodeURIComponent(value) || undefined;
    } catch {
      return undefined; // malformed escapes: no such cookie
    }
  }
  return undefined;
}

/**
 * `Set-Cookie` for the refresh token. SameSite=Strict: the browser never
 * sends it with a request another site starts. Secure when the request came
 * over HTTPS (behind a TLS proxy, enable Express's `trust proxy` so it can
 * tell); plain http://localhost keeps working for `npm start`.
 */
export function refreshCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return [
    `${REFRESH_COOKIE}=${encodeURIComponent(token)}`,
    `Max-Age=${Math.floor(maxAgeSeconds)}`,
    `Path=${PATH}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

/** `Set-Cookie` that deletes the refresh cookie (same name and path, expired). */
export function clearedRefreshCookie(secure: boolean): string {
  return refreshCookie('', 0, secure);
}

/**
 * Whether a request that carries (or sets) the refresh cookie comes from the
 * sample's own page. SameSite=Strict already keeps other *sites* from sending
 * the cookie, but a sibling subdomain (evil.example.com beside
 * chat.example.com) is the same site: so a browser's own word is checked
 * too. `Sec-Fetch-Site` (every current browser) must be `same-origin`;
 * without it, an `Origin` must name this host. A request with neither is not
 * a browser's, and carries no cookie a browser would add by itself.
 */
export function fromOwnPage(headers: IncomingHttpHeaders): boolean {
  const site = headers['sec-fetch-site'];
  if (typeof site === 'string') return site === 'same-origin';
  const origin = headers.origin;
  if (typeof origin !== 'string') return true;
  try {
    return new URL(origin).host === headers.host;
  } catch {
    return false; // `Origin: null` (sandboxed frames, some redirects) included
  }
}
