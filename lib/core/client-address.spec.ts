import { limitKey } from './client-address.js';

describe('limitKey', () => {
  it.each([
    ['2001:db8:1:2:3:4:5:6', 64, '2001:db8:1:2:0:0:0:0/64'],
    ['2001:db8:1:2::ffff', 64, '2001:db8:1:2:0:0:0:0/64'],
    ['[2001:DB8:1:2::1]', 64, '2001:db8:1:2:0:0:0:0/64'],
    ['fe80::1%eth0', 64, 'fe80:0:0:0:0:0:0:0/64'],
    ['2001:db8:1:2:3:4:5:6', 56, '2001:db8:1:0:0:0:0:0/56'],
    ['2001:db8:1:2ff:3:4:5:6', 56, '2001:db8:1:200:0:0:0:0/56'],
    ['2001:db8:1:2:3:4:5:6', 128, '2001:db8:1:2:3:4:5:6'],
    ['2001:db8:1:2:3:4:5:6', false, '2001:db8:1:2:3:4:5:6'],
    ['::1', 64, '0:0:0:0:0:0:0:0/64'],
    ['::ffff:203.0.113.7', 64, '203.0.113.7'],
    ['::ffff:cb00:7107', 64, '203.0.113.7'],
    ['203.0.113.7', 64, '203.0.113.7'],
    ['', 64, ''],
    ['not an address', 64, 'not an address'],
  ] as const)('%s with /%s is %s', (address, subnet, key) => {
    expect(limitKey(address, subnet)).toBe(key);
  });

  it('two addresses of one /64 share a key; the next /64 does not (control)', () => {
    expect(limitKey('2001:db8:0:1::a', 64)).toBe(limitKey('2001:db8:0:1:ffff:ffff:ffff:ffff', 64));
    expect(limitKey('2001:db8:0:1::a', 64)).not.toBe(limitKey('2001:db8:0:2::a', 64));
  });
});
