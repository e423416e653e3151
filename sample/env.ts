/** A number from the environment, or `fallback` when unset, not a number, or below `min`. Read when called. */
export function envNumber(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? NaN : Number(raw);
  return Number.isFinite(value) && value >= min ? value : fallback;
}

/**
 * AUTH_ISSUER: the identity provider whose tokens sockets accept (issuer
 * mode), exactly as its tokens' `iss` says it; undefined when unset, and the
 * sample signs its own tokens. Read when called.
 */
export function authIssuer(): string | undefined {
  return process.env.AUTH_ISSUER || undefined;
}
