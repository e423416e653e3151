/**
 * 2,000 sockets connect and never authenticate, from four client processes,
 * while an authenticated user chats. Every one must be told `timeout` and
 * disconnected within timeout + 10%, the chat must not fail, and the module's
 * maps and timers must be back to zero.
 */
import {
  MessageBody,
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'socket.io';
import { Authenticated } from '../../lib/index.js';
import { authenticate, closeClients, connect, createApp, sleep } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

// Long enough that the connect burst is over well before the timeouts fire, so the 10% allowance measures the timer.
const TIMEOUT = 3000;
const PROCESSES = 4;
const PER_PROCESS = 500;

const lifetimes: number[] = [];
const connectedAt = new Map<string, number>();

@WebSocketGateway()
class Gateway implements OnGatewayConnection, OnGatewayDisconnect {
  handleConnection(client: Socket): void {
    connectedAt.set(client.id, performance.now());
  }

  handleDisconnect(client: Socket): void {
    const at = connectedAt.get(client.id);
    connectedAt.delete(client.id);
    if (at !== undefined && client.data.auth?.state !== 'authenticated') lifetimes.push(performance.now() - at);
  }

  @Authenticated()
  @SubscribeMessage('chat')
  chat(@MessageBody() text: string): string {
    return text;
  }
}

function flood(url: string): Promise<{ connected: number; timeoutTold: number; disconnected: number; errors: number }> {
  const script = fileURLToPath(new URL('./flood-client.mjs', import.meta.url));
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [script, url, String(PER_PROCESS)], { timeout: 90_000 }, (err, stdout) =>
      err ? reject(new Error(`flood client failed: ${err.message} ${stdout}`)) : resolve(JSON.parse(stdout)),
    ),
  );
}

it('2,000 never-authenticating sockets are all timed out on time, nothing leaks, and an authenticated chat carries on', async () => {
  const t = await createApp(
    { ...tokenAuth, timeout: TIMEOUT, maxPending: 0, maxPendingPerAddress: 0 },
    { providers: [Gateway] },
  );
  try {
    const chatter = connect(t.url);
    await authenticate(chatter, { token: 'alice-token' });
    let sent = 0;
    let failures = 0;
    let chatting = true;
    const chat = (async () => {
      while (chatting) {
        const text = `m${sent++}`;
        try {
          if ((await chatter.timeout(5000).emitWithAck('chat', text)) !== text) failures++;
        } catch {
          failures++;
        }
        await sleep(20);
      }
    })();

    const results = await Promise.all(Array.from({ length: PROCESSES }, () => flood(t.url)));
    chatting = false;
    await chat;

    const total = PROCESSES * PER_PROCESS;
    const sum = results.reduce(
      (a, r) => ({
        connected: a.connected + r.connected,
        timeoutTold: a.timeoutTold + r.timeoutTold,
        errors: a.errors + r.errors,
      }),
      { connected: 0, timeoutTold: 0, errors: 0 },
    );
    const late = lifetimes.filter((ms) => ms > TIMEOUT * 1.1);
    // One object, so a failure shows every figure at once.
    expect({
      ...sum,
      disconnectedOnServer: lifetimes.length,
      late: late.length,
      slowest: Math.round(Math.max(...lifetimes)),
      chatFailures: failures,
    }).toEqual({
      connected: total,
      timeoutTold: total,
      errors: 0,
      disconnectedOnServer: total,
      late: 0,
      slowest: expect.any(Number),
      chatFailures: 0,
    });
    expect(sent).toBeGreaterThan(10);

    const counts = t.auth.resourceCounts();
    expect(counts).toMatchObject({ sessions: 1, timers: 0, pendingTotal: 0, limitCounters: 0, heldSockets: 0 });
    chatter.disconnect();
    await sleep(100);
    expect(t.auth.resourceCounts()).toMatchObject({ sessions: 0, releasedSockets: 0 });
  } finally {
    closeClients();
    await t.close();
  }
}, 120_000);
