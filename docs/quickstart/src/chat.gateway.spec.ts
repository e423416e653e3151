// src/chat.gateway.spec.ts
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { connectAuthenticated, FakeAuthStrategy } from 'nestjs-socket-auth/testing';
import type { Socket } from 'socket.io-client';
import { AppModule } from './app.module.js';
import { TokenStrategy } from './token.strategy.js';

describe('ChatGateway', () => {
  let app: INestApplication;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      // The Nest habit works: the module's strategy is replaced like any provider.
      .overrideProvider(TokenStrategy)
      .useValue(new FakeAuthStrategy({ 'test-admin': { id: 'ada', roles: ['admin'] }, 'test-user': { id: 'ben' } }))
      .compile();
    app = moduleRef.createNestApplication();
    await app.listen(0);
  });

  afterEach(() => sockets.splice(0).forEach((s) => s.disconnect()));
  afterAll(() => app.close());

  const connect = async (token: string): Promise<Socket> => {
    const socket = await connectAuthenticated(app, { token });
    sockets.push(socket);
    return socket;
  };

  it('answers whoami with the authenticated id', async () => {
    const socket = await connect('test-user');
    expect(await socket.emitWithAck('whoami')).toBe('ben');
  });

  it('refuses announce to a user without the admin role, and lets an admin announce', async () => {
    const ben = await connect('test-user');
    const ada = await connect('test-admin');
    expect(await ben.emitWithAck('announce', 'hi')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    const heard = new Promise((resolve) => ben.once('announcement', resolve));
    ada.emit('announce', 'hello all');
    expect(await heard).toBe('hello all');
  });

  it('refuses unknown tokens', async () => {
    await expect(connectAuthenticated(app, { token: 'wrong' })).rejects.toThrow('invalid_credentials');
  });
});
