/**
 * A background job that is not a socket.io server: it notifies sockets through
 * @socket.io/redis-emitter and exits. Usage (with --import ./ts-register.mjs):
 *   REDIS_URL=… KEY=… JOB='{"event":"news","payload":"…"}'               broadcast to every authenticated socket
 *   REDIS_URL=… KEY=… JOB='{"principalId":"alice","event":"dm","payload":"…"}'  every socket of one principal
 */
import { Emitter } from '@socket.io/redis-emitter';
import { createClient } from 'redis';
import { principalRoom } from '../../../lib/core/protocol.js';

const job = JSON.parse(process.env.JOB!) as { principalId?: string; event: string; payload: unknown };
const redis = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
await redis.connect();
const emitter = new Emitter(redis, { key: process.env.KEY });
if (job.principalId) emitter.to(principalRoom(job.principalId)).emit(job.event, job.payload);
else emitter.emit(job.event, job.payload);
await redis.quit(); // after the publish has been sent
