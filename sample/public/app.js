// The sample page: plain ES modules, no build step. socket.io serves its own
// client; the auth helper is nestjs-socket-auth/client, served by the sample.
import { io } from '/socket.io/socket.io.esm.min.js';
import { authenticate } from '/client/index.js';

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('token');
let socket;
let auth;

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

/** Refusals after which the stored token is useless. */
const SESSION_ENDED = new Set(['invalid_credentials', 'expired', 'identity_changed']);

function renderState(state, { user, error } = {}) {
  // A convenience only: the server refuses chat:clear with `forbidden` to anyone who is not an admin.
  $('clear').hidden = !(state === 'authenticated' && user?.roles?.includes('admin'));
  if (state === 'authenticated') setStatus(`connected · authenticated as ${user?.name ?? user?.id}`, 'authenticated');
  else if (state === 'pending')
    setStatus(socket?.connected ? 'connected · authenticating…' : 'reconnecting…', 'pending');
  else if (error?.code === 'revoked') {
    setStatus('revoked · you were logged out', 'revoked');
    showChat(false); // log in again, as the same or another user
  } else if (SESSION_ENDED.has(error?.code)) {
    // The token is no good any more (logged out, expired, or signed by a server since restarted): log in again.
    sessionStorage.removeItem('token');
    setStatus(`not authenticated · ${error.message}`, 'failed');
    $('login-error').textContent = 'Your session has ended: please log in again';
    showChat(false);
  } else setStatus(`not authenticated · ${error?.message ?? 'refused'}`, 'failed');
}

function start() {
  // A fresh connection per login; the previous one (if any) was revoked or is being replaced.
  auth?.close();
  socket?.close();
  $('messages').replaceChildren();
  showChat(true);
  setStatus('connecting…', 'pending');
  socket = io({ transports: ['websocket'] });
  // The token is read on every (re)connection, so a new login is picked up.
  auth = authenticate(socket, () => ({ token }));
  auth.onStateChange(renderState);
  auth.catch(() => undefined);
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
  socket.on('disconnect', () => auth.state !== 'failed' && setStatus('disconnected · reconnecting…', 'pending'));
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
  ({ token } = await res.json());
  sessionStorage.setItem('token', token);
  start();
});

$('send-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('message').value.trim();
  if (!text) return;
  socket.emit('chat:send', { text }, (reply) => {
    if (reply?.ok === false) setStatus(`not sent · ${reply.error.message}`, auth.state);
  });
  $('message').value = '';
});

$('clear').addEventListener('click', () => {
  socket.emit('chat:clear', (reply) => {
    if (reply?.ok === false) setStatus(`not cleared · ${reply.error.message}`, auth.state);
  });
});

$('logout').addEventListener('click', async () => {
  sessionStorage.removeItem('token');
  // The server revokes every socket of this user, on every node; this page then shows "revoked".
  const res = await fetch('/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  // 401: the token was already refused (expired, logged out elsewhere); there is nothing to revoke.
  if (!res.ok) {
    auth?.close();
    socket?.close();
    showChat(false);
  }
});

// The public status feed: anyone may listen, logged in or not.
const status = io('/status', { transports: ['websocket'] });
status.on('status', ({ online }) => {
  $('online').textContent = `${online} ${online === 1 ? 'user' : 'users'} online`;
  $('online').dataset.online = String(online);
});

if (token) start();
