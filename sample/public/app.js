// The sample page: plain ES modules, no build step. socket.io serves its own
// client; the auth helper is nestjs-socket-auth/client, served by the sample.
//
// Tokens: the access token lives in this module's memory only (never in
// storage a script injected later could read back); the refresh token is an
// httpOnly cookie this page never sees. On load the page trades the cookie for
// an access token (POST /auth/refresh), so a reload stays logged in, and the
// helper calls freshToken() again ahead of each expiry by itself.
import { io } from '/socket.io/socket.io.esm.min.js';
import { authenticate } from '/client/index.js';

const $ = (id) => document.getElementById(id);
/** The latest access token: for logout's Authorization header. */
let accessToken;
/** A token just fetched by login or page load, which the first authentication uses instead of fetching another. */
let unused;
/** Set once /auth/refresh answers 401: the refresh cookie is gone, expired or revoked. */
let ended = false;
/** The /auth/refresh request in flight, so concurrent callers share one. */
let fetching;
let socket;
let auth;
let unsubscribe = [];
/** The user as the server last said (`authenticated { user }`): id, name, roles, teams. */
let me;
/** This tab's session, as `authenticated` names it: the devices panel marks it "this device". */
let sessionId;
/** Rooms the server says this socket is in (join acks, DMs), and joins still waiting for their ack. */
const joined = new Set();
const joining = new Set();
/** Direct-message rooms this page has been in: joined again after a reconnection (team rooms come from `teams`). */
const dms = new Set();
/** Team rooms left with ×: not joined again until asked for. */
const dismissed = new Set();
/** Other tabs of this browser: "Log out" here logs them out too. */
const tabs = globalThis.BroadcastChannel ? new globalThis.BroadcastChannel('sample-chat-auth') : undefined;

/** The refresh cookie is missing, expired or revoked: only logging in again helps. */
class SessionEnded extends Error {}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fresh access token from the refresh cookie; retried on network errors and 5xx, SessionEnded on 401/403. */
function freshToken() {
  fetching ??= (async () => {
    try {
      for (let attempt = 1; ; attempt++) {
        let res;
        try {
          res = await fetch('/auth/refresh', { method: 'POST' });
        } catch (err) {
          if (attempt >= 4) throw err;
        }
        if (res?.ok) return (accessToken = (await res.json()).token);
        if (res && res.status < 500) {
          ended = true;
          throw new SessionEnded('Your session has ended: please log in again');
        }
        if (attempt >= 4) throw new Error(`token refresh failed (${res?.status})`);
        await delay(250 * 2 ** attempt);
      }
    } finally {
      fetching = undefined;
    }
  })();
  return fetching;
}

/** What the helper sends in `authentication`, on every (re)connection and every refresh. */
async function credentials() {
  // Only a token fetched a moment ago: one kept while the server was unreachable may have expired since.
  const token = unused && Date.now() - unused.at < 10_000 ? unused.token : await freshToken();
  unused = undefined;
  return { token };
}

/** Keeps `token` for the authentication that follows. */
function fetched(token) {
  accessToken = token;
  unused = { token, at: Date.now() };
}

function setStatus(text, state) {
  $('status').textContent = text;
  $('status').dataset.state = state;
}

function showChat(visible) {
  $('login-panel').hidden = visible;
  $('chat-panel').hidden = !visible;
}

/** A message; `room` for one sent to a team or direct-message room (shown first, as `#team:red`). */
function addMessage({ user, text, room }) {
  const item = document.createElement('div');
  item.className = 'message';
  const who = document.createElement('strong');
  who.textContent = user;
  const body = document.createElement('span');
  body.textContent = text;
  if (room) {
    item.dataset.room = room;
    const where = document.createElement('em');
    where.className = 'room';
    where.textContent = `#${room}`;
    item.append(where);
  }
  item.append(who, body);
  $('messages').append(item);
  $('messages').scrollTop = $('messages').scrollHeight;
}

/** Refusals after which this login is over: the refresh cookie cannot help. */
const SESSION_ENDED = new Set(['invalid_credentials', 'identity_changed', 'invalidated']);

function renderState(state, { user, error } = {}) {
  // A convenience only: the server refuses chat:clear with `forbidden` to anyone who is not an admin.
  $('clear').hidden = !(state === 'authenticated' && user?.roles?.includes('admin'));
  if (state === 'authenticated') {
    setStatus(`connected · authenticated as ${user?.name ?? user?.id}`, 'authenticated');
    // Again after every refresh and revalidation: an admin may have changed this user's teams or roles meanwhile.
    me = user;
    syncRooms();
    showAdmin(!!user?.roles?.includes('admin'));
  } else if (state === 'pending')
    setStatus(socket?.connected ? 'connected · authenticating…' : 'reconnecting…', 'pending');
  else if (error?.code === 'revoked') {
    // Logged out (here, in another tab, or everywhere): log in again, as the same or another user.
    stop();
    setStatus(`revoked · ${error.message}`, 'revoked');
  } else if (ended || SESSION_ENDED.has(error?.code)) {
    // The refresh cookie is no good any more (expired, revoked, signed by a server since restarted with another
    // secret), or the user is gone: log in again.
    sessionEnded(error?.message);
  } else setStatus(`not authenticated · ${error?.message ?? 'refused'}`, 'failed');
}

/** The chat socket, made once: its listeners are registered once, whatever the number of logins. */
function chatSocket() {
  if (socket) {
    socket.connect();
    return socket;
  }
  socket = io({ transports: ['websocket'] });
  socket.on('chat:message', addMessage);
  // Sent as the socket authenticates: the last messages, which replace whatever the page showed.
  socket.on('chat:history', (messages) => {
    $('messages').replaceChildren();
    messages.forEach(addMessage);
  });
  socket.on('chat:cleared', () => $('messages').replaceChildren());
  // The session's id, for "this device" (the helper reports the user; the id comes with the same event).
  socket.on('authenticated', (payload) => {
    if (payload?.sessionId) sessionId = payload.sessionId;
  });
  // A team or direct-message room. A DM from someone new is also how this page learns the server put it in the room.
  socket.on('room:message', (message) => {
    if (typeof message?.room !== 'string') return;
    if (message.room.startsWith('dm:')) dms.add(message.room);
    if (!joined.has(message.room)) {
      joined.add(message.room);
      renderRooms();
    }
    addMessage(message);
  });
  // The server took this socket out of a policed room: its user no longer qualifies (taken out of the team).
  socket.on('room_left', ({ room, code, message }) => {
    joined.delete(room);
    dms.delete(room);
    renderRooms();
    notice('room-notice', `left ${room} · ${code}: ${message}`, 'left');
  });
  socket.on('presence', ({ users }) => {
    $('presence').replaceChildren(
      ...users.map((name) => Object.assign(document.createElement('li'), { textContent: name })),
    );
  });
  socket.on('disconnect', () => {
    // A new connection starts in no room: the page joins them again once it is authenticated.
    joined.clear();
    joining.clear();
    renderRooms();
    if (auth && auth.state !== 'failed') setStatus('disconnected · reconnecting…', 'pending');
  });
  return socket;
}

// ── rooms ───────────────────────────────────────────────────────────────────

/** Shows `text` in the notice line `id`; `result` (joined, refused, left, …) is for styling and tests. */
function notice(id, text, result) {
  $(id).textContent = text;
  $(id).dataset.result = result;
}

/** Joins the rooms this user should be in and is not: their teams' (unless left with ×), and their DMs. */
function syncRooms() {
  const wanted = [...(me?.teams ?? []).map((team) => `team:${team}`).filter((r) => !dismissed.has(r)), ...dms];
  for (const room of wanted) if (!joined.has(room) && !joining.has(room)) joinRoom(room);
}

/**
 * Asks the server to join `room` through the library's client protocol:
 * `join {room}`, answered `{ok:true, room}` or `{ok:false, error:{code, message}}`
 * (`forbidden` when the room's policy refuses this user). `asked`: typed in the
 * join form, so the answer is shown either way.
 */
function joinRoom(room, asked = false) {
  joining.add(room);
  socket.timeout(5000).emit('join', { room }, (err, reply) => {
    joining.delete(room);
    if (!err && reply?.ok) {
      joined.add(room);
      dismissed.delete(room);
      renderRooms();
      if (asked) notice('room-notice', `joined ${room}`, 'joined');
    } else if (asked) {
      const why = err ? 'no answer' : `${reply?.error?.code}: ${reply?.error?.message}`;
      notice('room-notice', `refused ${room} · ${why}`, 'refused');
    }
  });
}

function leaveRoom(room) {
  socket.timeout(5000).emit('leave', { room }, (err, reply) => {
    if (err || !reply?.ok) return notice('room-notice', `could not leave ${room}`, 'refused');
    joined.delete(room);
    dms.delete(room);
    if (room.startsWith('team:')) dismissed.add(room);
    renderRooms();
    notice('room-notice', `left ${room}`, 'left');
  });
}

/** An `<option>` of a `<select>`. */
function option(label, value, selected = false) {
  return Object.assign(document.createElement('option'), { textContent: label, value, selected });
}

/** The room list and the send form's choice of target, from `joined`. */
function renderRooms() {
  const rooms = [...joined].sort();
  $('rooms').replaceChildren(
    ...rooms.map((room) => {
      const item = document.createElement('li');
      item.dataset.room = room;
      const name = document.createElement('span');
      name.textContent = room;
      const leave = Object.assign(document.createElement('button'), {
        type: 'button',
        className: 'leave small',
        textContent: '×',
        title: `Leave ${room}`,
      });
      leave.addEventListener('click', () => leaveRoom(room));
      item.append(name, leave);
      return item;
    }),
  );
  const chosen = $('target').value;
  $('target').replaceChildren(
    option('Everyone', ''),
    ...rooms.map((room) => option(`#${room}`, room, room === chosen)),
  );
  if (!rooms.includes(chosen)) $('target').value = '';
}

/** Connects and authenticates; the helper refreshes ahead of every expiry and on `refresh_required`. */
function start() {
  detach();
  $('messages').replaceChildren();
  $('login-error').textContent = '';
  showChat(true);
  setStatus('connecting…', 'pending');
  const s = chatSocket();
  auth = authenticate(s, credentials);
  unsubscribe = [
    auth.onStateChange(renderState),
    // A refresh the server or /auth/refresh refused: the session runs on to its expiry, and the helper tries again
    // on `refresh_required` and at the expiry. A cookie that is gone will not come back: end it now.
    auth.onRefreshError((error) => ended && sessionEnded(error.message)),
  ];
  auth.catch(() => undefined);
}

function sessionEnded(message = 'session ended') {
  stop();
  setStatus(`not authenticated · ${message}`, 'failed');
  $('login-error').textContent = 'Your session has ended: please log in again';
}

/** Stops authenticating this socket and disconnects it. */
function detach() {
  unsubscribe.splice(0).forEach((off) => off()); // first, so close() below tells renderState nothing
  auth?.close();
  auth = undefined;
  socket?.disconnect();
}

/** Leaves the chat and forgets the access token, the user, their rooms and panels; the login form shows. */
function stop() {
  detach();
  accessToken = unused = me = sessionId = undefined;
  for (const set of [joined, joining, dms, dismissed]) set.clear();
  renderRooms();
  for (const id of ['room-notice', 'devices-notice', 'admin-notice']) notice(id, '', '');
  $('devices').hidden = true;
  $('devices').querySelector('tbody').replaceChildren();
  $('admin-users').replaceChildren();
  showAdmin(false);
  showChat(false);
  $('clear').hidden = true;
}

/** A request with this tab's access token (the bearer token: no cookie is involved, so no CSRF). */
function authorized(path, method = 'POST') {
  return fetch(path, {
    method,
    headers: accessToken ? { authorization: `Bearer ${accessToken}` } : {},
  }).catch(() => undefined);
}

const post = (path) => authorized(path, 'POST');

// ── devices ─────────────────────────────────────────────────────────────────

const time = (ms) => (ms ? new Date(ms).toLocaleTimeString() : '–');

/** "Chrome 131" from a User-Agent header, or the header itself. */
function agentName(agent) {
  if (!agent) return 'unknown client';
  const found = agent.match(/(Edg|Firefox|HeadlessChrome|Chrome|Safari)\/(\d+)/);
  return found ? `${found[1]} ${found[2]}` : agent.slice(0, 40);
}

/** GET /auth/sessions: every live session of this user, on every node; this tab's is marked. */
async function loadDevices() {
  const res = await authorized('/auth/sessions', 'GET');
  if (!res?.ok) return notice('devices-notice', `devices unavailable (${res?.status ?? 'offline'})`, 'refused');
  const { sessions, complete } = await res.json();
  const rows = sessions
    .sort((a, b) => a.authenticatedAt - b.authenticatedAt)
    .map((session) => {
      const row = document.createElement('tr');
      row.dataset.session = session.id;
      const current = session.id === sessionId;
      row.dataset.current = String(current);
      const device = document.createElement('td');
      device.textContent = agentName(session.userAgent);
      device.title = session.userAgent ?? '';
      if (current)
        device.append(
          Object.assign(document.createElement('span'), { className: 'this-device', textContent: ' · this device' }),
        );
      const cells = [
        session.address,
        time(session.authenticatedAt),
        time(session.expiresAt),
        `${session.node} ${session.namespaces.join(' ')}`,
      ].map((text) => Object.assign(document.createElement('td'), { textContent: text }));
      const action = document.createElement('td');
      if (!current) {
        const end = Object.assign(document.createElement('button'), {
          type: 'button',
          className: 'sign-out small',
          textContent: 'Sign out',
        });
        end.addEventListener('click', () => signOut(session.id));
        action.append(end);
      }
      row.append(device, ...cells, action);
      return row;
    });
  $('devices')
    .querySelector('tbody')
    .replaceChildren(...rows);
  $('devices').hidden = false;
  $('devices').dataset.loaded = String(Date.now());
  notice(
    'devices-notice',
    complete ? '' : 'a server did not answer: the list may be incomplete',
    complete ? '' : 'partial',
  );
}

/** POST /auth/sessions/:id/end: the server checks the session is this user's, ends it, and revokes that login. */
async function signOut(id) {
  const res = await post(`/auth/sessions/${encodeURIComponent(id)}/end`);
  const ended = res?.ok ? (await res.json()).ended : undefined;
  await loadDevices(); // without the ones just ended; then the outcome, which the list's own notice would replace
  if (!ended) notice('devices-notice', `not signed out (${res?.status ?? 'offline'})`, 'refused');
  else notice('devices-notice', `signed out ${ended.length} ${ended.length === 1 ? 'session' : 'sessions'}`, 'ended');
}

$('devices-show').addEventListener('click', () => loadDevices());

// ── admin: teams ────────────────────────────────────────────────────────────

/** Shows the team panel to admins (a convenience: the server refuses everyone else with 403). */
function showAdmin(admin) {
  const shown = !$('admin-panel').hidden;
  $('admin-panel').hidden = !admin;
  if (admin && !shown) loadUsers();
}

async function loadUsers() {
  const res = await authorized('/admin/users', 'GET');
  if (!res?.ok) return notice('admin-notice', `users unavailable (${res?.status ?? 'offline'})`, 'refused');
  const { users } = await res.json();
  $('admin-users').replaceChildren(
    ...users.map((user) => {
      const item = document.createElement('li');
      item.dataset.user = user.id;
      item.append(Object.assign(document.createElement('strong'), { textContent: user.name }));
      for (const team of user.teams) {
        const chip = Object.assign(document.createElement('span'), { className: 'team', textContent: team });
        chip.dataset.team = team;
        const remove = Object.assign(document.createElement('button'), {
          type: 'button',
          className: 'small',
          textContent: '×',
          title: `Take ${user.name} out of ${team}`,
        });
        remove.dataset.remove = team;
        remove.addEventListener('click', () => changeTeam(user.id, team, 'DELETE'));
        chip.append(remove);
        item.append(chip);
      }
      return item;
    }),
  );
  const chosen = $('admin-user').value;
  $('admin-user').replaceChildren(...users.map((u) => option(u.name, u.id, u.id === chosen)));
  $('admin-users').dataset.loaded = String(Date.now());
}

/** PUT (add) or DELETE (remove) /admin/users/:id/teams/:team; the server revalidates the user's live sessions. */
async function changeTeam(userId, team, method) {
  const res = await authorized(`/admin/users/${encodeURIComponent(userId)}/teams/${encodeURIComponent(team)}`, method);
  if (!res?.ok) notice('admin-notice', `not changed (${res?.status ?? 'offline'})`, 'refused');
  else {
    const { user, revalidated } = await res.json();
    const what = method === 'DELETE' ? `${user.name} left ${team}` : `${user.name} joined ${team}`;
    notice(
      'admin-notice',
      `${what} · ${revalidated} live ${revalidated === 1 ? 'session' : 'sessions'} updated`,
      'changed',
    );
  }
  await loadUsers();
}

// ── admin: the Socket.IO Admin UI ───────────────────────────────────────────

/**
 * POST /admin/ui-session with this tab's access token sets an httpOnly cookie that only /admin-ui sees (the
 * server checks the user is an admin), then the UI opens in a new tab. A link could not carry the bearer token.
 */
$('admin-ui-open').addEventListener('click', async () => {
  const res = await post('/admin/ui-session');
  if (!res?.ok) return notice('admin-ui-notice', `Admin UI refused (${res?.status ?? 'offline'})`, 'refused');
  notice('admin-ui-notice', '', '');
  window.open('/admin-ui/', '_blank', 'noopener');
});

$('admin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const team = $('admin-team').value.trim();
  if (team) changeTeam($('admin-user').value, team, 'PUT');
  $('admin-team').value = '';
});

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('login-error').textContent = '';
  const res = await fetch('/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: $('username').value, password: $('password').value }),
  });
  if (!res.ok) {
    $('login-error').textContent = 'Wrong username or password';
    return;
  }
  fetched((await res.json()).token);
  ended = false;
  start();
});

$('send-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('message').value.trim();
  if (!text) return;
  const room = $('target').value;
  // Everyone, or a room: the server relays `room:send` only from a socket in that room.
  const [name, payload] = room ? ['room:send', { room, text }] : ['chat:send', { text }];
  socket.emit(name, payload, (reply) => {
    if (reply?.ok === false) setStatus(`not sent · ${reply.error.message}`, auth?.state);
  });
  $('message').value = '';
});

$('join-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const room = $('join-room').value.trim();
  if (!room) return;
  joinRoom(room, true);
  $('join-room').value = '';
});

/** A direct message: the server puts both users' pages in their room `dm:<a>:<b>`, then sends it there. */
$('dm-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const to = $('dm-to').value.trim();
  const text = $('dm-text').value.trim();
  if (!to || !text) return;
  socket.timeout(5000).emit('dm:send', { to, text }, (err, reply) => {
    if (err || !reply?.ok)
      return notice('room-notice', `not sent to ${to} · ${err ? 'no answer' : reply.error.message}`, 'refused');
    dms.add(reply.room);
    joined.add(reply.room);
    renderRooms();
    $('target').value = reply.room; // replies go to the same room
  });
  $('dm-text').value = '';
});

$('clear').addEventListener('click', () => {
  socket.emit('chat:clear', (reply) => {
    if (reply?.ok === false) setStatus(`not cleared · ${reply.error.message}`, auth?.state);
  });
});

/** This browser: this tab's token and the refresh cookie; the other tabs are told to revoke their own tokens. */
$('logout').addEventListener('click', async () => {
  const res = await post('/auth/logout');
  tabs?.postMessage('logged-out');
  // 200: the server revoked this tab's token and ends its socket; the page then shows "revoked".
  // 401: nothing usable was left to revoke (expired, or logged out elsewhere): just leave.
  if (!res?.ok) {
    stop();
    setStatus('logged out', 'revoked');
  }
});

/** Every browser and device of this user: the server ends all of their sockets, this one included. */
$('logout-all').addEventListener('click', async () => {
  const res = await post('/auth/logout-all');
  if (!res?.ok) {
    stop();
    setStatus('logged out', 'revoked');
  }
});

// Another tab of this browser logged out (and the shared refresh cookie with it): revoke this tab's access token too.
tabs?.addEventListener('message', async ({ data }) => {
  if (data !== 'logged-out' || !auth) return;
  const res = await post('/auth/logout');
  if (!res?.ok) {
    stop();
    setStatus('logged out', 'revoked');
  }
});

// The public status feed: anyone may listen, logged in or not.
const status = io('/status', { transports: ['websocket'] });
status.on('status', ({ online }) => {
  $('online').textContent = `${online} ${online === 1 ? 'user' : 'users'} online`;
  $('online').dataset.online = String(online);
});

// A reload stays logged in: the refresh cookie, if there is one, gives this page its first token.
freshToken().then(
  (token) => {
    fetched(token);
    start();
  },
  () => showChat(false),
);
