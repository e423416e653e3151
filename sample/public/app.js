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

function addMessage({ user, text }) {
  const item = document.createElement('div');
  item.className = 'message';
  const who = document.createElement('strong');
  who.textContent = user;
  const body = document.createElement('span');
  body.textContent = text;
  item.append(who, body);
  $('messages').append(item);
  $('messages').scrollTop = $('messages').scrollHeight;
}

/** Refusals after which this login is over: the refresh cookie cannot help. */
const SESSION_ENDED = new Set(['invalid_credentials', 'identity_changed', 'invalidated']);

function renderState(state, { user, error } = {}) {
  // A convenience only: the server refuses chat:clear with `forbidden` to anyone who is not an admin.
  $('clear').hidden = !(state === 'authenticated' && user?.roles?.includes('admin'));
  if (state === 'authenticated') setStatus(`connected · authenticated as ${user?.name ?? user?.id}`, 'authenticated');
  else if (state === 'pending')
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
  socket.on('presence', ({ users }) => {
    $('presence').replaceChildren(
      ...users.map((name) => Object.assign(document.createElement('li'), { textContent: name })),
    );
  });
  socket.on(
    'disconnect',
    () => auth && auth.state !== 'failed' && setStatus('disconnected · reconnecting…', 'pending'),
  );
  return socket;
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

/** Leaves the chat and forgets the access token; the login form shows. */
function stop() {
  detach();
  accessToken = unused = undefined;
  showChat(false);
  $('clear').hidden = true;
}

async function post(path) {
  return fetch(path, {
    method: 'POST',
    headers: accessToken ? { authorization: `Bearer ${accessToken}` } : {},
  }).catch(() => undefined);
}

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
  socket.emit('chat:send', { text }, (reply) => {
    if (reply?.ok === false) setStatus(`not sent · ${reply.error.message}`, auth?.state);
  });
  $('message').value = '';
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
