import { Logger, type OnModuleDestroy } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  type OnGatewayDisconnect,
  type OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  WsException,
} from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import {
  Authenticated,
  AuthSocketService,
  AuthUser,
  principalRoom,
  type AuthPrincipal,
  type OnGatewayAuthenticated,
  type OnGatewayPrincipalChanged,
  type SocketAuthData,
} from '../lib/index.js';
import { envNumber } from './env.js';
import { onlineUsers } from './online.js';
import { dmRoom, isChatRoom } from './rooms.js';
import { UsersService } from './users.service.js';

const MAX_TEXT = 2000;
const HISTORY = 50;
/** Server-side events between nodes (never from clients), so every node keeps the same history. */
const HISTORY_APPEND = 'sample:history-append';
const HISTORY_CLEAR = 'sample:history-clear';
/** A steady stream of presence changes still sends one update at least this often. */
const PRESENCE_MAX_WAIT_MS = 1000;

export interface ChatMessage {
  user: string;
  text: string;
}

/** A message to a team or direct-message room: only sockets in the room get it. */
export interface RoomMessage extends ChatMessage {
  room: string;
}

/** A refusal on the ack, in the library's own shape, so the page reads every refusal the same way. */
export interface Refusal {
  ok: false;
  error: { code: 'bad_request' | 'forbidden'; message: string };
}

/** What a handler answers on the ack. */
export type Reply<T extends object = object> = ({ ok: true } & T) | Refusal;

const refused = (code: Refusal['error']['code'], message: string): Refusal => ({ ok: false, error: { code, message } });

/**
 * The credentials a socket's session holds, kept in `socket.data.credentials`
 * so any node can read them through `fetchSockets()`: what signing the device
 * out revokes (see AuthController.endSession).
 */
export interface SessionCredentials {
  /** The library's session id (`socket.data.auth.sessionId`), as `AuthSocketService.sessions()` lists it. */
  sessionId: string;
  /** The login (the refresh cookie's jti) the access token came from; absent for tokens minted without one. */
  login?: string;
  /** The current access token's jti and expiry (epoch ms): they change with every refresh. */
  tokenId?: string;
  expiresAt?: number;
}

@WebSocketGateway()
export class ChatGateway
  implements OnGatewayInit, OnGatewayAuthenticated, OnGatewayPrincipalChanged, OnGatewayDisconnect, OnModuleDestroy
{
  private readonly logger = new Logger(ChatGateway.name);
  @WebSocketServer() server!: Server;
  /** The last messages, sent to each socket as it authenticates; kept in step across nodes. */
  private history: ChatMessage[] = [];
  /** Sockets counted in presence: only these change it when they leave. */
  private readonly present = new Set<string>();
  private presenceTimer?: NodeJS.Timeout;
  private presenceDue?: number;
  /** Presence changes closer together than this go out as one update. */
  private readonly presenceDelay = envNumber('PRESENCE_DELAY_MS', 150);
  /** Sockets disconnecting because the app shuts down need no presence update. */
  private closing = false;

  constructor(
    private readonly auth: AuthSocketService,
    private readonly users: UsersService,
  ) {}

  /** Other nodes' messages and clears. */
  afterInit(server: Server): void {
    server.on(HISTORY_APPEND, (message: ChatMessage) => this.remember(message));
    server.on(HISTORY_CLEAR, () => (this.history = []));
  }

  handleAuthenticated(client: Socket, principal: AuthPrincipal): void {
    this.logger.log(`${principal.id} joined`);
    this.keepCredentials(client, principal);
    this.present.add(client.id);
    // Before the client is told `authenticated`: the page has its history when it starts talking.
    client.emit('chat:history', this.history);
    this.presenceChanged();
  }

  /**
   * A refresh (a new access token) or a revalidation (changed teams, roles):
   * the library has already taken the socket out of any room the new
   * principal may not be in. Only the token's id changes here.
   */
  handlePrincipalChanged(client: Socket, principal: AuthPrincipal): void {
    this.keepCredentials(client, principal);
  }

  /**
   * Unauthenticated sockets come and go without a word: anyone can open them,
   * so they must not make the server message every user (nor, in a cluster,
   * ask every node for its sockets).
   */
  handleDisconnect(client: Socket): void {
    // Tracked here, not read from client.data.auth: a revoked socket is reset to pending before it is disconnected.
    if (this.present.delete(client.id)) this.presenceChanged();
  }

  onModuleDestroy(): void {
    this.closing = true;
    clearTimeout(this.presenceTimer);
  }

  @Authenticated()
  @SubscribeMessage('chat:send')
  send(@AuthUser() user: AuthPrincipal, @MessageBody() body: { text?: unknown }): { ok: true } {
    const text = textOf(body);
    if (!text) throw new WsException('Empty message');
    const message: ChatMessage = { user: String(user.name ?? user.id), text };
    this.remember(message);
    void this.tellOtherNodes(HISTORY_APPEND, message);
    this.server.emit('chat:message', message);
    return { ok: true };
  }

  /** Admins only: anyone else is refused with `forbidden` and stays connected. */
  @Authenticated({ roles: ['admin'] })
  @SubscribeMessage('chat:clear')
  clear(@AuthUser() user: AuthPrincipal): { ok: true } {
    this.history = [];
    void this.tellOtherNodes(HISTORY_CLEAR);
    this.logger.log(`${user.id} cleared the chat`);
    this.server.emit('chat:cleared', { by: String(user.name ?? user.id) });
    return { ok: true };
  }

  /**
   * A message to one of the sender's rooms (a team's, a DM's). The check is
   * `client.rooms.has(room)`: a policed room only ever holds sockets whose
   * user the policy allows, now (a user taken out of a team has left its room
   * already), so being in it is the permission.
   */
  @Authenticated()
  @SubscribeMessage('room:send')
  sendToRoom(
    @ConnectedSocket() client: Socket,
    @AuthUser() user: AuthPrincipal,
    @MessageBody() body: { room?: unknown; text?: unknown },
  ): Reply {
    const text = textOf(body);
    if (!text) return refused('bad_request', 'Empty message');
    const room = typeof body?.room === 'string' ? body.room : '';
    if (!isChatRoom(room) || !client.rooms.has(room)) return refused('forbidden', 'You are not in this room');
    const message: RoomMessage = { room, user: String(user.name ?? user.id), text };
    this.server.to(room).emit('room:message', message);
    return { ok: true };
  }

  /**
   * A direct message to another user, in the pair's room `dm:<a>:<b>`: the
   * sender's socket joins it (checked, as every way into a policed room), then
   * every socket of both users on every node (`socketsJoin`, checked on each
   * socket's own node), then the message goes to the room. Answers the room,
   * for the page's replies (`room:send`).
   */
  @Authenticated()
  @SubscribeMessage('dm:send')
  async sendDirect(
    @ConnectedSocket() client: Socket,
    @AuthUser() user: AuthPrincipal,
    @MessageBody() body: { to?: unknown; text?: unknown },
  ): Promise<Reply<{ room: string }>> {
    const text = textOf(body);
    if (!text) return refused('bad_request', 'Empty message');
    const to = typeof body?.to === 'string' ? body.to.trim() : '';
    if (!to || to === user.id || !this.users.findById(to)) return refused('bad_request', 'No such user');
    const room = dmRoom(user.id, to);
    // The policy allows the pair: a refusal means the sender's session changed under us. The verdict, not a guess.
    if (!(await this.auth.join(client, room))) return refused('forbidden', 'You may not write to this user');
    // The recipient's tabs and the sender's other tabs. Not a way around the policy: each socket is checked.
    this.server.in([principalRoom(to), principalRoom(user.id)]).socketsJoin(room);
    const message: RoomMessage = { room, user: String(user.name ?? user.id), text };
    this.server.to(room).emit('room:message', message);
    return { ok: true, room };
  }

  /**
   * The credentials of `userId`'s live sessions, on every node (fetchSockets
   * asks the others), read from `socket.data.credentials`.
   */
  async credentialsOf(userId: string): Promise<SessionCredentials[]> {
    const found = new Map<string, SessionCredentials>();
    for (const socket of await this.server.in(principalRoom(userId)).fetchSockets()) {
      const auth = socket.data?.auth as SocketAuthData | undefined;
      const credentials = socket.data?.credentials as SessionCredentials | undefined;
      if (auth?.state === 'authenticated' && auth.principalId === userId && credentials)
        found.set(credentials.sessionId, credentials);
    }
    return [...found.values()];
  }

  /** Where any node finds what signing this session out must revoke. */
  private keepCredentials(client: Socket, principal: AuthPrincipal): void {
    const auth = client.data?.auth as SocketAuthData | undefined;
    if (auth?.state !== 'authenticated') return;
    const credentials: SessionCredentials = { sessionId: auth.sessionId };
    if (typeof principal.login === 'string') credentials.login = principal.login;
    if (principal.tokenId) credentials.tokenId = principal.tokenId;
    if (principal.expiresAt !== undefined) credentials.expiresAt = +principal.expiresAt;
    client.data.credentials = credentials;
  }

  /** Only when there are other nodes: socket.io's in-memory adapter warns on every serverSideEmit(). */
  private async tellOtherNodes(event: string, ...args: unknown[]): Promise<void> {
    try {
      if ((await this.server.sockets.adapter.serverCount()) > 1) this.server.serverSideEmit(event, ...args);
    } catch (err) {
      this.logger.warn(`history not shared with other nodes: ${(err as Error).message}`);
    }
  }

  private remember(message: ChatMessage): void {
    this.history.push(message);
    if (this.history.length > HISTORY) this.history.shift();
  }

  /** Trailing debounce with a ceiling: a burst of joins and leaves sends one update. */
  private presenceChanged(): void {
    if (this.closing) return;
    const now = Date.now();
    this.presenceDue ??= now + PRESENCE_MAX_WAIT_MS;
    clearTimeout(this.presenceTimer);
    this.presenceTimer = setTimeout(
      () => {
        this.presenceTimer = undefined;
        this.presenceDue = undefined;
        void this.broadcastPresence();
      },
      Math.min(this.presenceDelay, this.presenceDue - now),
    );
  }

  private async broadcastPresence(): Promise<void> {
    try {
      this.server.emit('presence', { users: await onlineUsers(this.server.sockets) });
    } catch (err) {
      this.logger.warn(`presence unavailable: ${(err as Error).message}`);
    }
  }
}

/** The message text, trimmed and cut to MAX_TEXT; '' when there is none. */
function textOf(body: { text?: unknown } | undefined): string {
  return typeof body?.text === 'string' ? body.text.trim().slice(0, MAX_TEXT) : '';
}
