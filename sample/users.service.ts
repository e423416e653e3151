import { Injectable } from '@nestjs/common';

/** In-memory demo users. A real app would look these up in its database. */
@Injectable()
export class UsersService {
  private readonly users = new Map([
    ['alice', { id: 'alice', name: 'Alice', password: 'alice-secret' }],
    ['bob', { id: 'bob', name: 'Bob', password: 'bob-secret' }],
  ]);

  /** The user, when the password matches. */
  verifyPassword(username: unknown, password: unknown): { id: string; name: string } | undefined {
    const user = typeof username === 'string' ? this.users.get(username) : undefined;
    if (!user || typeof password !== 'string' || password !== user.password) return undefined;
    return { id: user.id, name: user.name };
  }

  findById(id: string): { id: string; name: string } | undefined {
    const user = this.users.get(id);
    return user && { id: user.id, name: user.name };
  }
}
