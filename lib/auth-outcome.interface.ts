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
  | { type: 'failed'; socketId: string; namespace: string; address: string; code: AuthErrorCode }
  | { type: 'timeout'; socketId: string; namespace: string; address: string }
  | { type: 'expired'; socketId: string; namespace: string; principalId: string }
  | { type: 'deauthenticated'; socketId: string; namespace: string; principalId: string }
  | { type: 'revoked'; principalId: string; reason?: string };
