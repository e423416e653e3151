// src/client.ts
import { io } from 'socket.io-client';
import { authenticate } from 'nestjs-socket-auth/client';

const socket = io(process.argv[2] ?? 'http://localhost:3000', { transports: ['websocket'] });
const user = await authenticate<{ id: string }>(socket, { token: 'alice-token' });
console.log(`authenticated as ${user.id}; whoami says ${await socket.emitWithAck('whoami')}`);
socket.disconnect();
