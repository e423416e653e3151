import type { AuthPrincipal, RoomPolicy } from '../lib/index.js';

/** A team's room: `team:red`. Only the team's members may be in it. */
export const TEAM_ROOM = /^team:(?<team>[a-z0-9-]{1,40})$/;
/** A direct-message room: `dm:<a>:<b>`, the two user ids sorted. Only those two may be in it. */
export const DM_ROOM = /^dm:(?<a>[a-z0-9-]{1,40}):(?<b>[a-z0-9-]{1,40})$/;

export const teamRoom = (team: string): string => `team:${team}`;

/** The one room of a pair of users, whichever of them writes first. */
export function dmRoom(one: string, other: string): string {
  const [a, b] = [one, other].sort();
  return `dm:${a}:${b}`;
}

/** Whether `room` is one a client may send to (`room:send`): a team's or a direct-message room. */
export const isChatRoom = (room: string): boolean => TEAM_ROOM.test(room) || DM_ROOM.test(room);

/**
 * Who may be in which room, checked by the library at every way in (a
 * client's `join`, `socket.join()`, `socketsJoin()` from any node) and again
 * whenever a principal changes (refresh, revalidation): a user taken out of a
 * team leaves its room at once and hears `room_left`. `teams` is the
 * principal's (ChatJwtStrategy puts the user's current teams there). Rooms
 * matching neither pattern are plain socket.io rooms, and clients cannot join
 * them through the protocol.
 */
export const ROOM_POLICIES: RoomPolicy[] = [
  {
    room: TEAM_ROOM,
    require: (principal, { match }) => teamsOf(principal).includes(match!.groups!.team),
  },
  {
    room: DM_ROOM,
    // The sorted form only, so a pair has one room (and `dm:bob:alice` is no way around it).
    require: (principal, { match }) => {
      const { a, b } = match!.groups!;
      return a < b && (principal.id === a || principal.id === b);
    },
  },
];

function teamsOf(principal: AuthPrincipal): string[] {
  return Array.isArray(principal.teams) ? (principal.teams as string[]) : [];
}
