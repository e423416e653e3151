import type { Socket } from 'socket.io';
import { AuthSocketConfigError } from '../auth-socket-config.error.js';
import { RoomPolicies, type RoomPolicy, validateRoomPolicies } from './room-policies.js';

const socket = {} as Socket;
const alice = { id: 'alice', roles: ['member'], scope: 'read write', teams: ['red'] };

describe('RoomPolicies', () => {
  it('the first declared policy that matches decides, whether named or a pattern', () => {
    const named: RoomPolicy = { room: 'team:red', require: { roles: ['admin'] } };
    const pattern: RoomPolicy = { room: /^team:/, require: true };
    expect(new RoomPolicies([named, pattern]).policyFor('team:red')).toBe(named);
    expect(new RoomPolicies([pattern, named]).policyFor('team:red')).toBe(pattern);
    expect(new RoomPolicies([named, pattern]).policyFor('team:blue')).toBe(pattern);
    expect(new RoomPolicies([named]).policyFor('lobby')).toBeUndefined();
  });

  it("never polices the module's own rooms, even under a catch-all pattern", () => {
    const policies = new RoomPolicies([{ room: /.*/, require: true }]);
    expect(policies.policyFor('nestjs-socket-auth:principal:bob')).toBeUndefined();
    expect(policies.policyFor('anything')).toBeDefined();
  });

  it('a global RegExp matches every room the same, whatever it matched before', () => {
    const policies = new RoomPolicies([{ room: /^team:/g, require: true }]);
    expect(policies.policyFor('team:a')).toBeDefined();
    expect(policies.policyFor('team:a')).toBeDefined();
  });

  it('roles need one of them, scopes need all, true needs a principal only', () => {
    const p = new RoomPolicies([]);
    const allow = (require: RoomPolicy['require'], who: object | undefined = alice) =>
      p.allows({ room: 'r', require }, who as never, 'r', socket);
    expect(allow({ roles: ['admin', 'member'] })).toBe(true);
    expect(allow({ roles: ['admin'] })).toBe(false);
    expect(allow({ scopes: ['read', 'write'] })).toBe(true);
    expect(allow({ scopes: ['read', 'admin'] })).toBe(false);
    expect(allow(true)).toBe(true);
    expect(p.allows({ room: 'r', require: true }, undefined, 'r', socket)).toBe(false);
  });

  it('a predicate gets the room and the match groups; sync answers stay sync', () => {
    const policy: RoomPolicy = {
      room: /^team:(?<team>\w+)$/,
      require: (principal, { match }) => (principal.teams as string[]).includes(match!.groups!.team!),
    };
    const p = new RoomPolicies([policy]);
    expect(p.allows(policy, alice as never, 'team:red', socket)).toBe(true);
    expect(p.allows(policy, alice as never, 'team:blue', socket)).toBe(false);
  });

  it('an async predicate resolves to its verdict; a throw, a rejection or a non-boolean refuses', async () => {
    const p = new RoomPolicies([]);
    const allow = (require: RoomPolicy['require']) => p.allows({ room: 'r', require }, alice as never, 'r', socket);
    await expect(allow(async () => true)).resolves.toBe(true);
    await expect(allow(async () => false)).resolves.toBe(false);
    await expect(allow(() => Promise.reject(new Error('db down')))).resolves.toBe(false);
    await expect(allow((async () => 'yes') as never)).resolves.toBe(false);
    expect(
      allow(() => {
        throw new Error('bug');
      }),
    ).toBe(false);
    expect(allow((() => 1) as never)).toBe(false);
  });
});

describe('validateRoomPolicies', () => {
  const refused = (value: unknown, text: RegExp) => {
    let error: unknown;
    try {
      validateRoomPolicies(value);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AuthSocketConfigError);
    expect((error as AuthSocketConfigError).code).toBe('AUTH_SOCKET_INVALID_OPTION');
    expect((error as Error).message).toMatch(text);
  };

  it('names the entry and what is wrong with it', () => {
    refused({}, /"rooms" must be an array/);
    refused([null], /\[0\] must be an object/);
    refused([{ room: '', require: true }], /\[0\]\.room must be a non-empty string or a RegExp/);
    refused([{ room: 'a', require: true }, { room: 'b' }], /\[1\]\.require must be/);
    refused([{ room: 'a', require: { role: ['x'] } }], /\[0\]\.require must be/);
    refused([{ room: 'a', require: { roles: 'admin' } }], /\[0\]\.require must be/);
    refused([{ room: 'nestjs-socket-auth:principal:x', require: true }], /module's own rooms/);
  });

  it('accepts every documented shape', () => {
    expect(() =>
      validateRoomPolicies([
        { room: 'a', require: true },
        { room: /^b/, require: { roles: ['x'], scopes: ['y'] } },
        { room: 'c', require: async () => true },
      ]),
    ).not.toThrow();
  });
});
