import { Injectable } from '@nestjs/common';

export interface User {
  id: string;
  name: string;
  roles: string[];
}

/**
 * In-memory demo users. A real app looks them up in its database and stores
 * password hashes (argon2, bcrypt), never passwords.
 */
@Injectable()
export class UsersService {
  private readonly users = new Map([
    ['alice', { id: 'alice', name: 'Alice', roles: ['admin'], password: 'alice-secret' }],
    ['bob', { id: 'bob', name: 'Bob', roles: [], password: 'bob-secret' }],
  ]);

  /** The user, when the password matches. */
  verifyPassword(username: unknown, password: unknown): User | undefined {
    const user = typeof username === 'string' ? this.users.get(username) : undefined;
    if (!user || typeof password !== 'string' || password !== user.password) return undefined;
    return this.findById(user.id);
  }

  findById(id: string): User | undefined {
    const user = this.users.get(id);
    return user && { id: user.id, name: user.name, roles: [...user.roles] };
  }
}
