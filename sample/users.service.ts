import { Injectable } from '@nestjs/common';
import { DEMO_USERS, type DemoUser, type User } from './users.data.js';

export type { User } from './users.data.js';

/** A team's name, as it appears in its room `team:<name>`. */
export const TEAM_NAME = /^[a-z0-9-]{1,40}$/;

/**
 * In-memory demo users, from users.data.ts (which the local issuer reads
 * too). A real app looks them up in its database and stores password hashes
 * (argon2, bcrypt), never passwords. Teams change at run time (the admin's
 * `PUT`/`DELETE /admin/users/:id/teams/:team`), each process for itself: with
 * several nodes, keep users in a shared database.
 */
@Injectable()
export class UsersService {
  // Copies: team changes stay in this process's service.
  private readonly users = new Map<string, DemoUser>(
    DEMO_USERS.map((u) => [u.id, { ...u, roles: [...u.roles], teams: [...u.teams] }]),
  );

  /** The user, when the password matches. */
  verifyPassword(username: unknown, password: unknown): User | undefined {
    const user = typeof username === 'string' ? this.users.get(username) : undefined;
    if (!user || typeof password !== 'string' || password !== user.password) return undefined;
    return this.findById(user.id);
  }

  findById(id: string): User | undefined {
    const user = this.users.get(id);
    return user && { id: user.id, name: user.name, roles: [...user.roles], teams: [...user.teams] };
  }

  /** Every user, without passwords: for the admin's team panel. */
  list(): User[] {
    return [...this.users.keys()].map((id) => this.findById(id)!);
  }

  /** Adds the user to `team` (no-op when already in it); the user, or undefined when there is no such user. */
  addToTeam(id: string, team: string): User | undefined {
    const user = this.users.get(id);
    if (!user) return undefined;
    if (!user.teams.includes(team)) user.teams = [...user.teams, team].sort();
    return this.findById(id);
  }

  /** Takes the user out of `team` (no-op when not in it); the user, or undefined when there is no such user. */
  removeFromTeam(id: string, team: string): User | undefined {
    const user = this.users.get(id);
    if (!user) return undefined;
    user.teams = user.teams.filter((t) => t !== team);
    return this.findById(id);
  }
}
