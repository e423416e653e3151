/**
 * The socket.io internals the gate relies on, exercised on a bare socket.io
 * server (no Nest). If a socket.io upgrade changes them, this file fails loudly:
 * that is its purpose. Checked against socket.io 4.8.x.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { Adapter } from 'socket.io-adapter';
import { childrenOf, engineSid, installGate, screenConnects } from '../../lib/core/broadcast-gate.js';
import { http } from '../support/raw.js';
import { closeClients, connect, connected, expectMissed, once, record, sleep } from '../support/harness.js';

async function bareServer(options: ConstructorParameters<typeof Server>[1] = {}) {
  const http = createServer();
  const io = new Server(http, options);
  installGate(io.of('/'));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const serverSide = (id: string): Socket => io.of('/').sockets.get(id)!;
  return { io, url, serverSide, close: () => new Promise<void>((r) => io.close(() => r())) };
}

/** A released socket in `room`: the positive control that a broadcast was really sent. */
async function witness(s: Awaited<ReturnType<typeof bareServer>>, room: string) {
  const w = connect(s.url);
  await connected(w);
  const server = s.serverSide(w.id!);
  installGate(s.io.of('/')).release(server);
  await server.join(room);
  const seen = record<string>(w, 'b');
  /** Resolves once the witness has received `count` broadcasts. */
  const received = async (count: number): Promise<void> => {
    while (seen.length < count) await once(w, 'b');
  };
  return { id: w.id!, seen, received };
}

describe('socket.io internals the broadcast gate relies on (socket.io 4.8.x)', () => {
  afterEach(() => closeClients());

  it('socket.io-adapter still has every method the gate wraps', () => {
    for (const method of ['addAll', 'del', 'delAll', 'socketRooms', 'broadcast', 'restoreSession']) {
      expect(typeof (Adapter.prototype as any)[method]).toBe('function');
    }
  });

  it('installGate refuses, loudly, an adapter missing one of them', () => {
    const nsp: any = { name: '/x', adapter: { addAll() {}, del() {}, delAll() {}, broadcast() {} } };
    expect(() => installGate(nsp)).toThrow(/no socketRooms\(\).*not supported/);
  });

  it('a RegExp namespace still keeps its children in ParentNamespace#children, and one without it is refused loudly', async () => {
    const s = await bareServer();
    try {
      const parent = s.io.of(/^\/dyn-\d+$/);
      const child = s.io.of('/dyn-1'); // created through the matching parent
      expect(childrenOf(parent)?.has(child)).toBe(true);
      expect(childrenOf(s.io.of('/'))).toBeUndefined(); // a plain namespace has none
      expect(() => childrenOf({ name: '/_9', createChild() {} } as any)).toThrow(/no children set.*not supported/);
    } finally {
      await s.close();
    }
  });

  it('engine.io still fills req._query before its middlewares run, with the last of repeated keys (the sid the binding checks)', async () => {
    const s = await bareServer();
    try {
      const seen: Array<string | undefined> = [];
      s.io.engine.use((req: IncomingMessage, _res: unknown, next: () => void) => {
        seen.push((req as { _query?: { sid?: string } })._query?.sid ?? `no _query (${req.url})`);
        seen.push(engineSid(req));
        next();
      });
      await http('GET', `${s.url}/socket.io/?EIO=4&transport=polling&sid=first&sid=last`);
      expect(seen).toEqual(['last', 'last']);
      // Without _query, the fallback parses the URL the same way.
      expect(engineSid({ url: '/socket.io/?sid=first&%73id=last' } as IncomingMessage)).toBe('last');
      expect(engineSid({ url: '/socket.io/?EIO=4&sid=' } as IncomingMessage)).toBeUndefined();
    } finally {
      await s.close();
    }
  });

  it('the CONNECT screen still finds Namespace#_add and Server#_nsps, and refuses loudly without them', async () => {
    const s = await bareServer();
    try {
      expect(typeof (s.io.of('/') as any)._add).toBe('function');
      expect((s.io as any)._nsps).toBeInstanceOf(Map);
      // Screening works: a refused CONNECT never becomes a socket, an admitted one does.
      let admit = false;
      const undo = screenConnects(s.io, () => admit);
      const refused = connect(s.url, { reconnection: false, timeout: 500 });
      await sleep(300);
      expect(s.io.of('/').sockets.size).toBe(0);
      refused.close();
      admit = true;
      const admitted = connect(s.url);
      await connected(admitted);
      expect(s.io.of('/').sockets.size).toBe(1);
      undo();
      expect(() => screenConnects({ _nsps: new Map([['/', { name: '/' }]]) } as any, () => true)).toThrow(
        /no _add\(\).*not supported/,
      );
      expect(() => screenConnects({} as any, () => true)).toThrow(/no _nsps map.*not supported/);
    } finally {
      await s.close();
    }
  });

  it('a held socket gets no broadcast of any kind, and gets them once released', async () => {
    const s = await bareServer();
    try {
      const c = connect(s.url);
      await connected(c);
      const server = s.serverSide(c.id!);
      void server.join('room');
      const w = await witness(s, 'room');
      const seen = record(c, 'b');
      s.io.emit('b', 'all');
      s.io.to('room').emit('b', 'room');
      s.io.to(c.id!).emit('b', 'to-id-from-server');
      await expectMissed(c, seen, w.received(2));
      expect(w.seen).toEqual(['all', 'room']);
      // Membership is held outside the adapter, but socket.rooms stays truthful.
      expect([...s.io.of('/').adapter.rooms.get('room')!]).toEqual([w.id]); // the witness only
      expect([...server.rooms].sort()).toEqual([c.id, 'room'].sort());

      installGate(s.io.of('/')).release(server);
      s.io.to('room').emit('b', 'room-after');
      expect(await once(c, 'b')).toBe('room-after');
      s.io.to(c.id!).emit('b', 'to-id-after');
      expect(await once(c, 'b')).toBe('to-id-after');
    } finally {
      await s.close();
    }
  });

  it('hold takes a released socket out of every room, and release puts it back', async () => {
    const s = await bareServer();
    try {
      const c = connect(s.url);
      await connected(c);
      const gate = installGate(s.io.of('/'));
      const server = s.serverSide(c.id!);
      gate.release(server);
      void server.join('room');
      gate.hold(server);
      const w = await witness(s, 'room');
      const seen = record(c, 'b');
      s.io.to('room').emit('b', 'while-detached');
      await expectMissed(c, seen, w.received(1));
      gate.release(server);
      s.io.to('room').emit('b', 'back');
      expect(await once(c, 'b')).toBe('back');
    } finally {
      await s.close();
    }
  });

  it('with connectionStateRecovery, a held socket still gets its direct socket.emit (which then goes through adapter.broadcast)', async () => {
    const s = await bareServer({ connectionStateRecovery: {} });
    try {
      const c = connect(s.url);
      await connected(c);
      const server = s.serverSide(c.id!);
      const w = await witness(s, 'room');
      const seen = record(c, 'b');
      s.io.emit('b', 'broadcast');
      server.emit('b', 'direct');
      await w.received(1);
      await sleep(100);
      expect(seen).toEqual(['direct']);
      expect(c.connected).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('disconnecting forgets the held socket entirely', async () => {
    const s = await bareServer();
    try {
      const c = connect(s.url);
      await connected(c);
      const gate = installGate(s.io.of('/'));
      expect(gate.sizes().held).toBe(1);
      c.disconnect();
      await sleep(50);
      expect(gate.sizes()).toEqual({ held: 0, released: 0, silenced: 0, recoveries: 0 });
    } finally {
      await s.close();
    }
  });
});
