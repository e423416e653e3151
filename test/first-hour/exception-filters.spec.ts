/**
 * Refusals are exceptions the app's WebSocket filters see and answer, in Nest
 * 12's payload shape; without a filter the ack is still answered.
 */
import { ArgumentsHost, Catch, UseFilters } from '@nestjs/common';
import { BaseWsExceptionFilter, SubscribeMessage, WebSocketGateway, WsException } from '@nestjs/websockets';
import { Authenticated, AuthSocketException } from '../../lib/index.js';
import { closeClients, connect, connected, createApp, once, type TestApp } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

/** An app filter that answers the ack itself, with its own shape. */
@Catch(WsException)
class AckingFilter extends BaseWsExceptionFilter {
  catch(exception: WsException, host: ArgumentsHost) {
    const ack = host.getArgByIndex(2);
    const code = exception instanceof AuthSocketException ? exception.code : 'other';
    if (typeof ack === 'function') ack({ handledBy: 'app filter', code });
  }
}

/** A filter for something else: it does not catch refusals, so the default answer stays. */
class Unrelated extends Error {}
@Catch(Unrelated)
class UnrelatedFilter extends BaseWsExceptionFilter {}

@WebSocketGateway({ namespace: 'filtered' })
@UseFilters(AckingFilter)
class FilteredGateway {
  @Authenticated()
  @SubscribeMessage('whoami')
  whoami(): string {
    return 'x';
  }
}

@WebSocketGateway({ namespace: 'plain' })
class PlainGateway {
  @Authenticated()
  @SubscribeMessage('whoami')
  whoami(): string {
    return 'x';
  }

  @UseFilters(new UnrelatedFilter())
  @Authenticated({ roles: ['admin'] })
  @SubscribeMessage('admin')
  admin(): string {
    return 'x';
  }
}

describe('refusals through exception filters', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createApp(tokenAuth, { providers: [FilteredGateway, PlainGateway] })));
  afterAll(() => t.close());
  afterEach(closeClients);

  it("hands the refusal to the gateway's filter, whose ack answer reaches the client", async () => {
    const socket = connect(`${t.url}/filtered`);
    await connected(socket);
    expect(await socket.timeout(3000).emitWithAck('whoami', { q: 1 })).toEqual({
      handledBy: 'app filter',
      code: 'unauthenticated',
    });
  });

  it("without a filter (control), answers the ack and emits Nest 12's exception payload with the code and cause", async () => {
    const socket = connect(`${t.url}/plain`);
    await connected(socket);
    const exception = once(socket, 'exception');
    expect(await socket.timeout(3000).emitWithAck('whoami', { q: 1 })).toMatchObject({
      ok: false,
      error: { code: 'unauthenticated' },
    });
    expect(await exception).toEqual({
      status: 'error',
      code: 'unauthenticated',
      message: expect.any(String),
      cause: { pattern: 'whoami', data: { q: 1 } },
    });
  });

  it('keeps the default answer when the only filter catches something else', async () => {
    const socket = connect(`${t.url}/plain`);
    await connected(socket);
    expect(await socket.timeout(3000).emitWithAck('admin')).toMatchObject({
      ok: false,
      error: { code: 'unauthenticated' },
    });
  });
});
