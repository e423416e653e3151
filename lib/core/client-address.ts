/**
 * The key per-address limits count under. An IPv6 client usually holds a
 * whole /64 (often far more), so counting per /128 would hand one client
 * 2^64 budgets: IPv6 addresses are keyed by their `ipv6Subnet` prefix, as
 * express-rate-limit's `ipv6Subnet` does. IPv4-mapped IPv6 (`::ffff:a.b.c.d`,
 * what a dual-stack socket reports for IPv4 clients) is the IPv4 address.
 * Anything that is not an IP address (a missing address) is its own key.
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * Keys already worked out, by subnet and address: every socket and attempt
 * asks, and a server's clients come from far fewer addresses than sockets (a
 * NAT, a proxy, a reconnecting client). Bounded: emptied when full.
 */
const KEYS = new Map<number | false, Map<string, string>>();
const MAX_KEYS = 4096;

export function limitKey(address: string, ipv6Subnet: number | false): string {
  let keys = KEYS.get(ipv6Subnet);
  if (!keys) KEYS.set(ipv6Subnet, (keys = new Map()));
  let key = keys.get(address);
  if (key === undefined) {
    if (keys.size >= MAX_KEYS) keys.clear();
    keys.set(address, (key = keyOf(address, ipv6Subnet)));
  }
  return key;
}

function keyOf(address: string, ipv6Subnet: number | false): string {
  const bare = address.trim().replace(/^\[(.*)\]$/, '$1');
  const unzoned = bare.replace(/%.*$/, ''); // fe80::1%eth0: the zone names an interface, not a client
  if (isIPv4(unzoned)) return unzoned;
  if (!isIPv6(unzoned)) return address;
  const groups = expand(unzoned);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.');
  }
  const prefix = ipv6Subnet === false ? 128 : ipv6Subnet;
  const masked = groups.map((group, i) => {
    const bits = Math.max(0, Math.min(16, prefix - i * 16));
    return bits === 0 ? 0 : group & ((0xffff << (16 - bits)) & 0xffff);
  });
  const text = masked.map((g) => g.toString(16)).join(':');
  return prefix === 128 ? text : `${text}/${prefix}`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted IPv4 turned into two groups). */
function expand(address: string): number[] {
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((g) => parseInt(g, 16));
}
