import type { AuthErrorCode } from './auth-errors.js';

/** One observable event in a socket's authentication life. */
export type AuthOutcome =
  | {
      type: 'authenticated';
      socketId: string;
      namespace: string;
      principalId: string;
      address: string;
      refreshed: boolean;
    }
  | {
      type: 'failed';
      socketId: string;
      namespace: string;
      address: string;
      code: AuthErrorCode;
      /** Set when a refresh was refused: the session runs on until its own end. */
      refresh?: true;
    }
  | { type: 'timeout'; socketId: string; namespace: string; address: string }
  | { type: 'expired'; socketId: string; namespace: string; principalId: string }
  | { type: 'deauthenticated'; socketId: string; namespace: string; principalId: string }
  | {
      type: 'revalidated';
      socketId: string;
      namespace: string;
      principalId: string;
      /** Whether the fresh principal differs from the one it replaced. */
      changed: boolean;
    }
  /**
   * One per `revoke()` call: `principalId` for the principal forms, `tokenId` for `{ tokenId }`. One per session
   * ended by `end(sessionId)` or `maxSessionsPerPrincipal`'s eviction, with its `sessionId`.
   */
  | { type: 'revoked'; principalId?: string; tokenId?: string; sessionId?: string; reason?: string; graceMs?: number }
  /**
   * A policed room was refused or taken away: a server-side join (`join`), the client protocol (`client`), or a
   * principal change (`recheck`, the client heard `room_left`). The room name is cut to 200 characters.
   */
  | {
      type: 'room_refused';
      socketId: string;
      namespace: string;
      principalId?: string;
      room: string;
      via: 'join' | 'client' | 'recheck';
    };
