/**
 * The checks run after every command: the real system (server state, what
 * clients received, what the gateways recorded) against the model.
 */
import { principalRoom } from '../../lib/index.js';
import type { Model } from './model.js';
import { isPublic, NSPS, type Nsp, type Principal, type System, teamRoom } from './system.js';

export function fail(message: string): never {
  throw new Error(message);
}

/** Waits (bounded) until the server holds exactly the sockets the model says are connected. */
export async function settleServer(m: Model, r: System, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  const matches = (): boolean =>
    NSPS.every((n) => {
      const expected = m.connected().filter(([, x]) => x === n);
      return r.nsp(n).sockets.size === expected.length && expected.every(([c]) => !!r.serverSocket(c, n));
    });
  while (Date.now() < deadline && !matches()) await new Promise((res) => setTimeout(res, 5));
  // A round trip on every connected socket: whatever the server wrote before has now arrived.
  await Promise.all(
    m.connected().map(([c, n]) =>
      r.clients[c].sockets[n].sock
        .timeout(1000)
        .emitWithAck('fence')
        .catch(() => undefined),
    ),
  );
}

const key = (c: number, n: Nsp, epoch: number): string => `${c}|${n}|${epoch}`;

/**
 * Expected receivers of a broadcast sent now: the authenticated sockets (of
 * `room`'s principal) of the namespace; on the public namespace, every socket
 * for a namespace-wide one.
 */
export function receivers(m: Model, r: System, n: Nsp, room?: Principal): Set<string> {
  const out = new Set<string>();
  for (const [c, x] of m.connected()) {
    const auth = m.socket(c, x).auth;
    const hears = room ? auth === room : !!auth || isPublic(n);
    if (x === n && hears) out.add(key(c, n, r.clients[c].sockets[n].epoch));
  }
  return out;
}

export function missedBy(m: Model, n: Nsp): Map<string, Principal | undefined> {
  const out = new Map<string, Principal | undefined>();
  m.clients.forEach(
    (client, c) => client.sockets[n].dropped && out.set(`${c}|${n}`, client.sockets[n].dropped!.principal),
  );
  return out;
}

export function checkInvariants(m: Model, r: System): void {
  for (const b of r.broadcasts) {
    if (b.expected) continue; // probes: their receivers are the model's state after the command
    b.expected = receivers(m, r, b.nsp);
    b.missedBy = missedBy(m, b.nsp);
  }
  checkServer(m, r);
  checkReceipts(m, r);
  checkRecords(m, r);
}

/** What the client was last told in its current connection: `authenticated`, or pending (connect, `unauthorized`). */
function clientView(r: System, c: number, n: Nsp): 'authenticated' | 'pending' {
  const rs = r.clients[c].sockets[n];
  let view: 'authenticated' | 'pending' = 'pending';
  for (const e of rs.log) {
    if (e.epoch !== rs.epoch) continue;
    if (e.kind === 'authenticated') view = 'authenticated';
    if (e.kind === 'unauthorized' || e.kind === 'connect') view = 'pending';
  }
  return view;
}

function checkServer(m: Model, r: System): void {
  const stats = r.t.auth.stats();
  const authenticated = m.connected().filter(([c, n]) => m.socket(c, n).auth).length;
  // Public sockets are never pending: nothing is held or timed out on their namespace.
  const pending = m.connected().filter(([c, n]) => !m.socket(c, n).auth && !isPublic(n)).length;
  if (stats.authenticated !== authenticated || stats.pending !== pending) {
    fail(
      `stats() counts ${stats.authenticated} authenticated and ${stats.pending} pending, model ${authenticated} and ${pending}`,
    );
  }
  for (const n of NSPS) {
    const nsp = r.nsp(n);
    const expected = m.connected().filter(([, x]) => x === n);
    if (nsp.sockets.size !== expected.length)
      fail(`${n}: server has ${nsp.sockets.size} sockets, model ${expected.length}`);
    const principalOfSid = new Map<string, Principal | undefined>();
    for (const [c] of expected) {
      const s = r.serverSocket(c, n) ?? fail(`client ${c} ${n}: no server socket`);
      const want = m.socket(c, n).auth;
      principalOfSid.set(s.id, want);
      const where = `client ${c} ${n} (${want ?? 'pending'})`;
      if (r.t.auth.isAuthenticated(s) !== !!want) fail(`${where}: isAuthenticated is ${r.t.auth.isAuthenticated(s)}`);
      const data = s.data.auth as { state?: string; principalId?: string } | undefined;
      if (data?.state !== (want ? 'authenticated' : 'pending')) fail(`${where}: data.auth.state is ${data?.state}`);
      if (want && data?.principalId !== want) fail(`${where}: data.auth.principalId is ${data?.principalId}`);
      const principal = r.t.auth.getPrincipal(s)?.id;
      if (principal !== want) fail(`${where}: getPrincipal() is ${principal}`);
      const view = clientView(r, c, n);
      if (view !== (want ? 'authenticated' : 'pending')) fail(`${where}: the client was last told it is ${view}`);
      const adapterRooms = (nsp.adapter as unknown as { sids: Map<string, Set<string>> }).sids.get(s.id);
      if (!want && isPublic(n)) {
        // Anonymous on a public namespace: released, in its own room only (rooms joined for a principal left with it).
        const rooms = [...new Set([...(adapterRooms ?? []), ...s.rooms])];
        if (rooms.length !== 1 || rooms[0] !== s.id) fail(`${where}: anonymous public socket is in rooms ${rooms}`);
        continue;
      }
      if (!want) {
        if (adapterRooms?.size) fail(`${where}: pending socket is in adapter rooms ${[...adapterRooms]}`);
        continue;
      }
      const allowed = new Set([s.id, principalRoom(want), teamRoom(want)]);
      for (const room of new Set([...(adapterRooms ?? []), ...s.rooms])) {
        if (!allowed.has(room)) fail(`${where}: in room ${room}`);
      }
      if (!adapterRooms?.has(s.id)) fail(`${where}: authenticated socket is not released (not in its own room)`);
    }
    for (const [room, members] of (nsp.adapter as unknown as { rooms: Map<string, Set<string>> }).rooms) {
      for (const sid of members) {
        const p = principalOfSid.get(sid);
        if (!p && isPublic(n) && principalOfSid.has(sid) && room === sid) continue;
        if (!p)
          fail(
            `${n}: adapter room ${room} holds ${principalOfSid.has(sid) ? 'a pending' : 'an unknown'} socket ${sid}`,
          );
        if (room.startsWith('team:') && room !== teamRoom(p)) fail(`${n}: socket of ${p} is in ${room}`);
      }
    }
  }
}

function checkReceipts(m: Model, r: System): void {
  const byPayload = new Map(r.broadcasts.map((b) => [b.payload, b]));
  r.clients.forEach((client, c) =>
    NSPS.forEach((n) => {
      const rs = client.sockets[n];
      // Rule: between an `unauthorized` and the client's next attempt, `authenticated` (scope 'connection': another
      // namespace's attempt) or reconnect, no broadcast arrives.
      let toldUnauthorized = false;
      // Rule: a public socket hears `unauthorized` only of its own outcome: it was authenticated, or it made an attempt.
      let mayHear = false;
      rs.log.forEach((e, i) => {
        if (isPublic(n) && (e.kind === 'authenticated' || e.kind === 'authsent' || e.kind === 'connect'))
          mayHear = e.kind !== 'connect';
        if (isPublic(n) && e.kind === 'unauthorized' && i >= rs.checked && !mayHear)
          fail(`client ${c} ${n}: a public socket heard another socket's outcome: ${JSON.stringify(e.payload)}`);
        if (e.kind === 'unauthorized') mayHear = false;
        if (e.kind === 'unauthorized') toldUnauthorized = true;
        if (e.kind === 'authsent' || e.kind === 'authenticated' || e.kind === 'connect') toldUnauthorized = false;
        if (e.kind !== 'bc' || i < rs.checked) return;
        const b = byPayload.get(e.payload)!;
        // On the public namespace an anonymous socket still hears namespace-wide broadcasts; only rooms are closed.
        if (toldUnauthorized && (!isPublic(n) || b.room))
          fail(`client ${c} ${n}: got broadcast ${e.payload} after "unauthorized"`);
        if (b.expected!.has(key(c, n, e.epoch))) return;
        const dropped = b.missedBy?.get(`${c}|${n}`);
        if (b.missedBy?.has(`${c}|${n}`) && dropped && m.socket(c, n).auth === dropped) return; // a recovery replay
        // An anonymous public socket's missed broadcasts come back with its recovery, as socket.io restores them.
        if (b.missedBy?.has(`${c}|${n}`) && !dropped && isPublic(n) && !b.room) return;
        fail(
          `client ${c} ${n}: got ${b.payload} (${b.nsp}) but was not an authenticated receiver (now ${m.socket(c, n).auth ?? 'pending'})`,
        );
      });
      rs.checked = rs.log.length;
    }),
  );
  for (const b of r.broadcasts) {
    if (b.checked) continue;
    b.checked = true;
    for (const k of b.expected!) {
      const [c, n, epoch] = k.split('|');
      const got = r.clients[+c].sockets[n as Nsp].log.some(
        (e) => e.kind === 'bc' && e.payload === b.payload && e.epoch === +epoch,
      );
      if (!got) fail(`client ${c} ${n}: authenticated but missed broadcast ${b.payload}`);
    }
  }
}

function checkRecords(m: Model, r: System): void {
  const hookKeys = new Set([...m.hooks.keys(), ...r.probe.hooks.keys()]);
  for (const k of hookKeys) {
    const want = JSON.stringify(m.hooks.get(k) ?? []);
    const got = JSON.stringify(r.probe.hooks.get(k) ?? []);
    if (want !== got) fail(`hooks for ${k}: ran ${got}, expected ${want}`);
  }
  const guardedKeys = new Set([...m.guarded.keys(), ...r.probe.guarded.keys()]);
  for (const k of guardedKeys) {
    if ((m.guarded.get(k) ?? 0) !== (r.probe.guarded.get(k) ?? 0)) {
      fail(`guarded handler for ${k}: ran ${r.probe.guarded.get(k) ?? 0} times, expected ${m.guarded.get(k) ?? 0}`);
    }
  }
}
