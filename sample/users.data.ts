/**
 * The demo users, as plain data: UsersService (the chat) and the local
 * issuer (issuer.ts, no Nest) both start from this list, so a password that
 * logs in at one logs in at the other. A real app keeps password hashes
 * (argon2, bcrypt) in its database, never passwords.
 */

export interface User {
  id: string;
  name: string;
  roles: string[];
  /** The teams whose rooms (`team:<name>`) the user may be in: see rooms.ts. */
  teams: string[];
}

export interface DemoUser extends User {
  password: string;
}

export const DEMO_USERS: readonly Readonly<DemoUser>[] = [
  { id: 'alice', name: 'Alice', roles: ['admin'], teams: ['red'], password: 'alice-secret' },
  { id: 'bob', name: 'Bob', roles: [], teams: ['red'], password: 'bob-secret' },
  { id: 'carol', name: 'Carol', roles: [], teams: ['blue'], password: 'carol-secret' },
];

/** The demo user, when the password matches; a copy, so callers may change it freely. */
export function checkPassword(username: unknown, password: unknown): DemoUser | undefined {
  const user = typeof username === 'string' ? DEMO_USERS.find((u) => u.id === username) : undefined;
  if (!user || typeof password !== 'string' || password !== user.password) return undefined;
  return { ...user, roles: [...user.roles], teams: [...user.teams] };
}
