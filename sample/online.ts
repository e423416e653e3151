import type { Namespace } from 'socket.io';
import type { SocketAuthData } from '../lib/index.js';

/**
 * The names of the users with an authenticated socket on `nsp`, on every node
 * (fetchSockets() asks the others through the adapter). Pending sockets are
 * held out of the adapter, so they cost nothing here.
 */
export async function onlineUsers(nsp: Namespace): Promise<string[]> {
  const names = new Set<string>();
  for (const socket of await nsp.fetchSockets()) {
    const auth = socket.data?.auth as SocketAuthData | undefined;
    if (auth?.state === 'authenticated')
      names.add(String((auth.user as { name?: string } | undefined)?.name ?? auth.principalId));
  }
  return [...names].sort();
}
