/**
 * Model-based test of an authenticated session's life: refreshes (good, bad,
 * as someone else, with revoked credentials), role changes picked up by
 * revalidation, users removed, revokes with and without a grace. After every
 * command the real app must agree with the model: who is authenticated, as
 * whom, with which roles (guarded handlers and the `editors` room follow
 * them), and who is in grace. 400 sequences (3,596 commands) found no
 * counterexample so far; keep any it finds as a plain test in regressions.spec.ts.
 * More runs: MODEL_RUNS=400 npm test -- test/model/lifecycle.spec.ts
 */
import { Injectable } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import fc from 'fast-check';
import type { Server, Socket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import {
  Authenticated,
  type AuthPrincipal,
  type AuthStrategy,
  type OnGatewayAuthenticated,
  type OnGatewayPrincipalChanged,
} from '../../lib/index.js';
import { authenticate, closeClients, connect, createApp, sleep, type TestApp, until } from '../support/harness.js';

const USERS = ['alice', 'bob'] as const;
type User = (typeof USERS)[number];
const SOCKETS = 3;
const GRACE_MS = 250;

/** Users and their roles, as the app's database holds them now. */
@Injectable()
class Directory {
  roles = new Map<string, string[]>();
}

/** `{ token: user, iat }`: valid while the user exists; `iat` is the credential's issue time, for revocations. */
@Injectable()
class DirectoryStrategy implements AuthStrategy {
  constructor(private readonly directory: Directory) {}
  authenticate(credentials: any): AuthPrincipal | null {
    const roles = this.directory.roles.get(credentials?.token);
    return roles ? { id: credentials.token, roles, issuedAt: credentials.iat } : null;
  }
  revalidate(principal: AuthPrincipal): AuthPrincipal | null {
    const roles = this.directory.roles.get(principal.id);
    return roles ? { ...principal, roles } : null;
  }
}

@WebSocketGateway()
class Gateway implements OnGatewayAuthenticated, OnGatewayPrincipalChanged {
  @WebSocketServer() server!: Server;
  handleAuthenticated(client: Socket, principal: AuthPrincipal): void {
    this.follow(client, principal);
  }
  handlePrincipalChanged(client: Socket, principal: AuthPrincipal): void {
    this.follow(client, principal);
  }
  private follow(client: Socket, principal: AuthPrincipal): void {
    if ((principal.roles as string[]).includes('editor')) client.join('editors');
    else client.leave('editors');
  }
  @Authenticated({ roles: ['editor'] })
  @SubscribeMessage('edit')
  edit(): string {
    return 'edited';
  }
}

interface SocketModel {
  connected: boolean;
  user?: User;
  roles: string[];
  inGrace: boolean;
}
interface Model {
  sockets: SocketModel[];
  directory: Map<User, string[]>;
  /** Per user: credentials issued at or before this time are revoked. */
  revokedBefore: Map<User, number>;
}
interface Real {
  t: TestApp;
  clients: ClientSocket[];
  directory: Directory;
}
type Cmd = fc.AsyncCommand<Model, Real>;

/** A credential issued now (after any revoke so far: the clock moves on first). */
async function freshCredential(user: User): Promise<{ token: User; iat: number }> {
  await sleep(2);
  return { token: user, iat: Date.now() };
}

function serverSocket(r: Real, i: number): Socket | undefined {
  return r.t.app
    .get(Gateway)
    .server.of('/')
    .sockets.get(r.clients[i].id ?? '');
}

let commandsRun = 0;

/** After every command: the server agrees with the model on every socket. */
async function check(m: Model, r: Real): Promise<void> {
  commandsRun++;
  for (let i = 0; i < SOCKETS; i++) {
    const want = m.sockets[i];
    if (!want.connected) {
      await until(() => !r.clients[i].connected, 2000, `socket ${i} to be disconnected`);
      continue;
    }
    const s = serverSocket(r, i);
    if (!s) throw new Error(`socket ${i}: the server has no such socket, the model says connected`);
    const principal = r.t.auth.getPrincipal(s);
    if ((principal?.id as User | undefined) !== want.user)
      throw new Error(`socket ${i}: authenticated as ${principal?.id}, model says ${want.user}`);
    if (!want.user) continue;
    const roles = principal!.roles as string[];
    if (JSON.stringify(roles) !== JSON.stringify(want.roles))
      throw new Error(`socket ${i}: roles ${JSON.stringify(roles)}, model ${JSON.stringify(want.roles)}`);
    const inEditors = s.rooms.has('editors');
    if (inEditors !== want.roles.includes('editor'))
      throw new Error(`socket ${i}: in editors ${inEditors}, model roles ${JSON.stringify(want.roles)}`);
    const answer = await r.clients[i].timeout(2000).emitWithAck('edit');
    if ((answer === 'edited') !== want.roles.includes('editor'))
      throw new Error(
        `socket ${i}: edit answered ${JSON.stringify(answer)}, model roles ${JSON.stringify(want.roles)}`,
      );
  }
}

/** A new connection in place of one that ended. */
class ReconnectCmd implements Cmd {
  constructor(readonly i: number) {}
  check = (m: Readonly<Model>): boolean => !m.sockets[this.i].connected;
  async run(m: Model, r: Real): Promise<void> {
    r.clients[this.i] = connect(r.t.url);
    await until(() => r.clients[this.i].connected, 3000, 'connect');
    m.sockets[this.i] = { connected: true, roles: [], inGrace: false };
    await check(m, r);
  }
  toString = (): string => `reconnect(${this.i})`;
}

class AuthenticateCmd implements Cmd {
  constructor(
    readonly i: number,
    readonly user: User,
  ) {}
  check = (m: Readonly<Model>): boolean => m.sockets[this.i].connected && !m.sockets[this.i].user;
  async run(m: Model, r: Real): Promise<void> {
    const answer = await authenticate(r.clients[this.i], await freshCredential(this.user));
    const roles = m.directory.get(this.user);
    if (!!answer?.ok !== !!roles) throw new Error(`${this}: answered ${JSON.stringify(answer)}`);
    if (roles) Object.assign(m.sockets[this.i], { user: this.user, roles: [...roles], inGrace: false });
    else m.sockets[this.i].connected = false; // a failed first attempt ends the session
    await check(m, r);
  }
  toString = (): string => `authenticate(${this.i}, ${this.user})`;
}

/** A refresh: fresh credentials of the same user, another user's, or ones issued before the user's last revoke. */
class RefreshCmd implements Cmd {
  constructor(
    readonly i: number,
    readonly kind: 'fresh' | 'other' | 'stale' | 'bad',
  ) {}
  check = (m: Readonly<Model>): boolean => !!m.sockets[this.i].user;
  async run(m: Model, r: Real): Promise<void> {
    const s = m.sockets[this.i];
    const user = s.user!;
    const other = USERS.find((u) => u !== user)!;
    const credentials =
      this.kind === 'fresh'
        ? await freshCredential(user)
        : this.kind === 'other'
          ? await freshCredential(other)
          : this.kind === 'stale'
            ? { token: user, iat: (m.revokedBefore.get(user) ?? Date.now()) - 1000 }
            : { token: 'mallory' };
    const answer = await authenticate(r.clients[this.i], credentials);
    const roles = m.directory.get(user);
    const revoked = this.kind === 'stale' && m.revokedBefore.has(user);
    const ok = this.kind === 'fresh' ? !!roles : this.kind === 'stale' ? !!roles && !revoked : false;
    if (!!answer?.ok !== ok) throw new Error(`${this}: answered ${JSON.stringify(answer)}, model expected ok=${ok}`);
    // A refresh takes the user's current roles and ends any grace; a refused one changes nothing.
    if (ok) Object.assign(s, { roles: [...roles!], inGrace: false });
    await check(m, r);
  }
  toString = (): string => `refresh(${this.i}, ${this.kind})`;
}

class SetRolesCmd implements Cmd {
  constructor(
    readonly user: User,
    readonly roles: string[] | null,
  ) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    if (this.roles) {
      m.directory.set(this.user, this.roles);
      r.directory.roles.set(this.user, this.roles);
    } else {
      m.directory.delete(this.user);
      r.directory.roles.delete(this.user);
    }
    await check(m, r); // nothing changes until a refresh or a revalidation
  }
  toString = (): string => `setRoles(${this.user}, ${JSON.stringify(this.roles)})`;
}

class RevalidateCmd implements Cmd {
  constructor(readonly user: User) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    await r.t.auth.revalidate(this.user);
    const roles = m.directory.get(this.user);
    for (const s of m.sockets) {
      if (s.user !== this.user) continue;
      if (roles) s.roles = [...roles];
      else Object.assign(s, { connected: false, user: undefined }); // invalidated
    }
    await check(m, r);
  }
  toString = (): string => `revalidate(${this.user})`;
}

class RevokeCmd implements Cmd {
  constructor(
    readonly user: User,
    readonly grace: boolean,
  ) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    await sleep(2); // credentials issued in an earlier millisecond are the ones revoked
    m.revokedBefore.set(this.user, Date.now());
    const result = await r.t.auth.revoke(this.user, this.grace ? { graceMs: GRACE_MS } : undefined);
    let covered = 0;
    for (const s of m.sockets) {
      if (s.user !== this.user) continue;
      covered++;
      if (this.grace) s.inGrace = true;
      else Object.assign(s, { connected: false, user: undefined });
    }
    const counted = this.grace ? result.inGrace : result.disconnected;
    if (counted !== covered) throw new Error(`${this}: revoke reported ${JSON.stringify(result)}, model ${covered}`);
    await check(m, r);
  }
  toString = (): string => `revoke(${this.user}${this.grace ? ', grace' : ''})`;
}

/** Waits out any grace: sessions still in one end. */
class GraceEndsCmd implements Cmd {
  check = (m: Readonly<Model>): boolean => m.sockets.some((s) => s.inGrace);
  async run(m: Model, r: Real): Promise<void> {
    await sleep(GRACE_MS + 150);
    for (const s of m.sockets) if (s.inGrace) Object.assign(s, { connected: false, user: undefined, inGrace: false });
    await check(m, r);
  }
  toString = (): string => 'graceEnds()';
}

const index = fc.integer({ min: 0, max: SOCKETS - 1 });
const user = fc.constantFrom(...USERS);
const commands: Array<fc.Arbitrary<Cmd>> = [
  index.map((i) => new ReconnectCmd(i)),
  fc.tuple(index, user).map(([i, u]) => new AuthenticateCmd(i, u)),
  fc
    .tuple(index, fc.constantFrom('fresh', 'other', 'stale', 'bad') as fc.Arbitrary<RefreshCmd['kind']>)
    .map(([i, k]) => new RefreshCmd(i, k)),
  fc
    .tuple(user, fc.constantFrom(['editor'], [], null) as fc.Arbitrary<string[] | null>)
    .map(([u, roles]) => new SetRolesCmd(u, roles)),
  user.map((u) => new RevalidateCmd(u)),
  fc.tuple(user, fc.boolean()).map(([u, g]) => new RevokeCmd(u, g)),
  fc.constant(new GraceEndsCmd()),
];

async function runSequence(cmds: Iterable<Cmd>): Promise<void> {
  const directory = new Directory();
  const t = await createApp(
    { strategy: DirectoryStrategy, extraProviders: [{ provide: Directory, useValue: directory }], timeout: 30_000 },
    { providers: [Gateway] },
  );
  try {
    const model: Model = { sockets: [], directory: new Map(), revokedBefore: new Map() };
    for (const u of USERS) {
      model.directory.set(u, ['editor']);
      directory.roles.set(u, ['editor']);
    }
    const clients = Array.from({ length: SOCKETS }, () => connect(t.url));
    await Promise.all(clients.map((c) => until(() => c.connected, 3000, 'connect')));
    for (let i = 0; i < SOCKETS; i++) model.sockets.push({ connected: true, roles: [], inGrace: false });
    const real = { t, clients, directory };
    // Every socket starts authenticated (alice, bob, alice), so lifecycle commands apply from the first step.
    for (let i = 0; i < SOCKETS; i++) await new AuthenticateCmd(i, USERS[i % USERS.length]).run(model, real);
    await fc.asyncModelRun(() => ({ model, real }), cmds);
  } finally {
    closeClients();
    await t.close();
  }
}

const RUNS = Number(process.env.MODEL_RUNS ?? 25);

describe('model-based: refresh, revalidation and revocation keep principals, roles and rooms consistent', () => {
  afterAll(() => process.stderr.write(`lifecycle model: ${commandsRun} commands run in ${RUNS} sequences\n`));
  it('random command sequences', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.commands(commands, { maxCommands: 20, size: 'max', replayPath: process.env.MODEL_REPLAY_PATH }),
        (cmds) => runSequence(cmds),
      ),
      { numRuns: RUNS, seed: Number(process.env.MODEL_SEED ?? 20261203), endOnFailure: true },
    );
  }, 240_000);
});
