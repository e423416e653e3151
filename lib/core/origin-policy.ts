/**
 * Which browser requests may touch a socket when `allowedOrigins` is set.
 * Checking the handshake's Origin alone is not enough:
 *
 *   - JSONP polling (`?j=0`) answers with script, and a `<script src>` on any
 *     page loads it with the user's cookies (SameSite=Lax ones too, from a
 *     sibling subdomain) and no Origin header: the page learns the sid and,
 *     with more script loads, reads the socket's frames. So JSONP is refused.
 *   - A request that carries a sid (a long-polling POST, say, from a form on
 *     another site) acts on a connection the handshake already admitted. So
 *     every such request and upgrade is checked too.
 *   - A missing Origin is not proof of "no browser": no-cors subresource loads
 *     carry cookies and no Origin. For strategies that trust the request's
 *     cookies (`source: 'request'`), a request without Origin must say it is
 *     same-origin (`Sec-Fetch-Site: same-origin`, sent by every current
 *     browser); others keep allowing it, since they carry no ambient
 *     credential and non-browser clients send no Origin.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface OriginPolicy {
  allowedOrigins: readonly string[];
  /** The strategy authenticates from the request's cookies: a request must prove its origin. */
  requireOrigin: boolean;
}

/** Whether a request (handshake, later request or upgrade) with these headers may reach the socket. */
export function originAllowed(headers: IncomingHttpHeaders, policy: OriginPolicy): boolean {
  if (!policy.allowedOrigins.length) return true;
  const origin = headers.origin;
  if (origin !== undefined) return policy.allowedOrigins.includes(origin);
  return !policy.requireOrigin || headers['sec-fetch-site'] === 'same-origin';
}

/** engine.io's JSONP polling: a `j` query parameter, as engine.io's transports/index.js tells it. */
export function isJsonp(query: Readonly<Record<string, string>>): boolean {
  return typeof query.j === 'string';
}
