// Opens N sockets that never authenticate and reports what each was told.
// Run as a child process by flood.spec.ts, so the load does not share the server's event loop.
import { io } from 'socket.io-client';

const [url, count] = [process.argv[2], Number(process.argv[3])];
const results = { connected: 0, timeoutTold: 0, disconnected: 0, errors: 0 };
let pending = count;
const done = () => {
  if (--pending === 0) {
    process.stdout.write(JSON.stringify(results));
    process.exit(0);
  }
};
for (let i = 0; i < count; i++) {
  const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  s.on('connect', () => results.connected++);
  s.on('unauthorized', (e) => e?.code === 'timeout' && results.timeoutTold++);
  s.on('disconnect', () => {
    results.disconnected++;
    done();
  });
  s.on('connect_error', () => {
    results.errors++;
    done();
  });
}
setTimeout(() => {
  process.stdout.write(JSON.stringify({ ...results, stuck: pending }));
  process.exit(1);
}, 60_000).unref();
