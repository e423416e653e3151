/**
 * The engine.io sid is in every long-polling URL, so it leaks into proxy logs.
 * Whoever holds it must not be able to read or write as its client. 127.0.0.2
 * plays the attacker's machine: all of 127.0.0.0/8 is loopback.
 */
import { MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server } from 'socket.io';
import { Authenticated, type AuthSocketModuleOptions } from '../../lib/index.js';
import { closeClients, createApp, sleep, type TestApp } from '../support/harness.js';
import { http, openPolling, openWebSocket, type PollingSession } from '../support/raw.js';
import { tokenAuth } from '../support/strategies.js';

const said: string[] = [];

@WebSocketGateway()
class ChatGateway {
  @WebSocketServer() server!: Server;

  @Authenticated()
  @SubscribeMessage('chat:send')
  send(@MessageBody() text: string): void {
    said.push(text);
    this.server.emit('chat:message', text);
  }
}

/** A victim on long-polling: connected and authenticated as alice from 127.0.0.1. */
async function victim(url: string): Promise<PollingSession> {
  const poll = await openPolling(url, { localAddress: '127.0.0.1' });
  await poll.post('40');
  await poll.get(); // the CONNECT answer
  await poll.post(`42["authentication",{"token":"alice-token"}]`);
  const answer = await poll.get();
  if (!answer.body.includes('authenticated')) throw new Error(`victim did not authenticate: ${answer.body}`);
  return poll;
}

describe('a stolen sid', () => {
  let t: TestApp;
  async function app(options: Partial<AuthSocketModuleOptions> = {}): Promise<void> {
    said.length = 0;
    t = await createApp({ ...tokenAuth, timeout: 5000, ...options }, { providers: [ChatGateway] });
  }
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('cannot read or write from another address over long-polling; the victim can', async () => {
    await app();
    const poll = await victim(t.url);
    const stolen = poll.url();
    const read = await http('GET', stolen, undefined, { localAddress: '127.0.0.2' });
    const write = await http('POST', stolen, `42["chat:send","as alice"]`, { localAddress: '127.0.0.2' });
    expect(read.status).toBe(400);
    expect(write.status).toBe(400);
    await sleep(100);
    expect(said).toEqual([]);
    // positive control: the victim's own requests still work
    expect((await poll.post(`42["chat:send","from alice"]`)).status).toBe(200);
    expect((await poll.get()).body).toContain('from alice');
    expect(said).toEqual(['from alice']);
  });

  it('cannot take the stream over with a websocket upgrade from another address; the victim can upgrade', async () => {
    await app();
    const poll = await victim(t.url);
    await expect(openWebSocket(t.url, poll.sid, { localAddress: '127.0.0.2' })).rejects.toMatchObject({ status: 400 });
    const ws = await openWebSocket(t.url, poll.sid, { localAddress: '127.0.0.1' });
    ws.close();
  });

  // The binding must check the sid engine.io acts on, not another spelling of it in the same URL.
  it.each([
    [
      "a second sid after the attacker's own (engine.io keeps the last)",
      (own: string, stolen: string) => `sid=${own}&sid=${stolen}`,
    ],
    ['a percent-encoded key', (_own: string, stolen: string) => `%73id=${stolen}`],
  ])("cannot slip the stolen sid past the binding with %s; the attacker's own sid still works", async (_, query) => {
    await app();
    const poll = await victim(t.url);
    const own = await openPolling(t.url, { localAddress: '127.0.0.2' });
    const forged = `${t.url}/socket.io/?EIO=4&transport=polling&${query(own.sid, poll.sid)}`;
    const write = await http('POST', forged, `42["chat:send","as alice"]`, { localAddress: '127.0.0.2' });
    const read = await http('GET', forged, undefined, { localAddress: '127.0.0.2' });
    expect(write.status).toBe(400);
    expect(read.status).toBe(400);
    // Controls: the attacker's own sid is served from its address, and the victim's stream is untouched.
    expect((await own.post('40')).status).toBe(200);
    expect((await poll.post(`42["chat:send","from alice"]`)).status).toBe(200);
    expect((await poll.get()).body).toContain('from alice');
    expect(said).toEqual(['from alice']);
  });

  it("with bindConnection 'cookie', the same address without the connection cookie is refused too", async () => {
    await app({ bindConnection: 'cookie' });
    const poll = await victim(t.url);
    expect(poll.cookie).toMatch(/^nsa_bind=/);
    const sameAddressNoCookie = await http('POST', poll.url(), `42["chat:send","forged"]`, {
      localAddress: '127.0.0.1',
    });
    const wrongCookie = await http('POST', poll.url(), `42["chat:send","forged"]`, {
      localAddress: '127.0.0.1',
      cookie: 'nsa_bind=AAAA',
    });
    expect(sameAddressNoCookie.status).toBe(400);
    expect(wrongCookie.status).toBe(400);
    await expect(openWebSocket(t.url, poll.sid, { localAddress: '127.0.0.1' })).rejects.toMatchObject({ status: 400 });
    expect((await poll.post(`42["chat:send","with cookie"]`)).status).toBe(200);
    await sleep(100);
    expect(said).toEqual(['with cookie']);
  });

  it('with bindConnection false, another address may use the sid (what the option turns off)', async () => {
    await app({ bindConnection: false });
    const poll = await victim(t.url);
    const write = await http('POST', poll.url(), `42["chat:send","as alice"]`, { localAddress: '127.0.0.2' });
    expect(write.status).toBe(200);
    await sleep(100);
    expect(said).toEqual(['as alice']);
  });
});
