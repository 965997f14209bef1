// Core Fields propagation over Supabase Realtime (Phoenix channels, JSON vsn 1.0.0).
//
// One iteration is one couple's channel: several clients join it (the couple and their
// suppliers), the couple broadcasts Core Field changes, and every OTHER client records when each
// change reaches it. That is propagation to the other suppliers, not the sender's own echo: the
// sender joins with `self: false`. Sender and receivers share this VU's clock, so the time is
// `arrival - sent_at` without clock skew.

import { WebSocket } from 'k6/experimental/websockets';
import { check } from 'k6';
import { Rate, Trend } from 'k6/metrics';
import { REALTIME_JOIN_SECONDS, REALTIME_SETTLE_SECONDS } from './options.js';

export const roundtrip = new Trend('realtime_core_fields_roundtrip', true);
// Each expected (change, receiver) delivery: 1 when it did not arrive in time.
export const lost = new Rate('realtime_core_fields_lost');

const CORE_FIELDS = ['wedding_date', 'venue', 'guest_count', 'timeline'];
const CHANGE_EVENT = 'core_field_changed';
const HEARTBEAT_MS = 25000;

// The anon key goes in headers, not the query string where browsers must put it: a URL with the
// key would be in every ws_* series's `url` and `name` labels. The gateway (Kong) reads
// `apikey`; Realtime itself reads only `x-api-key` (or the `apikey` query parameter), so both.
function socketUrl(realtimeUrl) {
  return `${realtimeUrl.replace(/\/+$/, '')}/websocket?vsn=1.0.0`;
}

function valueFor(fieldName, number) {
  switch (fieldName) {
    case 'wedding_date': return `2027-06-${String(1 + (number % 28)).padStart(2, '0')}`;
    case 'venue': return `Marquee ${number}`;
    case 'guest_count': return 80 + number;
    default: return [{ time: '14:00', title: `Ceremony (version ${number})` }];
  }
}

// One client of the channel: the Phoenix framing, refs and heartbeats.
class Client {
  constructor(url, anonKey, topic, role, onMessage) {
    this.topic = topic;
    this.role = role;
    this.ref = 0;
    this.joinRef = null;
    this.joined = false;
    this.ws = new WebSocket(url, null, { headers: { apikey: anonKey, 'x-api-key': anonKey } });
    this.ws.onmessage = (event) => onMessage(this, JSON.parse(event.data));
    this.ws.onerror = () => {};
  }

  send(topic, event, payload, joinRef) {
    this.ref += 1;
    const message = { topic, event, payload, ref: String(this.ref) };
    if (joinRef) {
      message.join_ref = joinRef;
    }
    this.ws.send(JSON.stringify(message));
    return message.ref;
  }

  join(accessToken) {
    const payload = {
      config: {
        // The sender's own echo is not what we measure; the ack says the server accepted.
        broadcast: { self: false, ack: this.role === 'couple' },
        presence: { enabled: false },
        private: false,
      },
    };
    if (accessToken) {
      payload.access_token = accessToken;
    }
    this.joinRef = this.send(this.topic, 'phx_join', payload);
  }

  heartbeat() {
    if (this.ws.readyState === 1) {
      this.send('phoenix', 'heartbeat', {});
    }
  }

  close() {
    if (this.ws.readyState <= 1) {
      this.ws.close();
    }
  }
}

// `settings`: {realtimeUrl, anonKey, accessToken, clients, changes, changeIntervalMs}.
export function coreFieldsSession(settings) {
  const session = `${__VU}-${__ITER}-${Math.floor(Math.random() * 1e9).toString(36)}`;
  const topic = `realtime:couple-core-fields-${session}`;
  const url = socketUrl(settings.realtimeUrl);
  const clients = [];
  const sentAt = {};
  const delivered = {}; // change id -> set of receiver indexes
  let acked = 0;
  let sent = 0;
  let started = false;
  let finished = false;
  const timers = [];
  let heartbeat = null;

  function finish() {
    if (finished) {
      return;
    }
    finished = true;
    // Nothing may stay scheduled: the iteration ends when the event loop is empty.
    timers.forEach((timer) => clearTimeout(timer));
    clearInterval(heartbeat);
    const receivers = clients.filter((client) => client.role === 'supplier');
    for (let change = 1; change <= settings.changes; change += 1) {
      const got = delivered[`${session}:${change}`] || new Set();
      receivers.forEach((receiver) => lost.add(!got.has(receiver.index)));
    }
    check(clients, {
      'realtime: every client joined the couple channel': (all) => all.every((c) => c.joined),
      'realtime: every Core Field change was acknowledged': () => acked === settings.changes,
    });
    clients.forEach((client) => client.close());
  }

  function broadcastNext() {
    if (finished) {
      return;
    }
    const couple = clients[0];
    if (couple.ws.readyState !== 1) {
      finish(); // the couple's socket is gone: what was not sent counts as lost
      return;
    }
    sent += 1;
    const fieldName = CORE_FIELDS[sent % CORE_FIELDS.length];
    const change = `${session}:${sent}`;
    sentAt[change] = Date.now();
    couple.send(topic, 'broadcast', {
      type: 'broadcast',
      event: CHANGE_EVENT,
      payload: { change, field: fieldName, value: valueFor(fieldName, sent), sent_at: sentAt[change] },
    }, couple.joinRef);
    if (sent < settings.changes) {
      timers.push(setTimeout(broadcastNext, settings.changeIntervalMs));
    } else {
      timers.push(setTimeout(finish, REALTIME_SETTLE_SECONDS * 1000));
    }
  }

  function onMessage(client, message) {
    const arrived = Date.now();
    if (message.event === 'phx_reply' && message.ref === client.joinRef) {
      client.joined = message.payload && message.payload.status === 'ok';
      if (!started && clients.every((c) => c.joined)) {
        started = true;
        broadcastNext();
      }
    } else if (message.event === 'phx_reply' && client.role === 'couple'
               && message.payload && message.payload.status === 'ok' && message.topic === topic) {
      acked += 1;
    } else if (message.event === 'broadcast' && client.role === 'supplier') {
      const change = message.payload && message.payload.payload;
      if (change && change.change in sentAt && !finished) {
        roundtrip.add(arrived - change.sent_at);
        (delivered[change.change] = delivered[change.change] || new Set()).add(client.index);
      }
    }
  }

  for (let index = 0; index < settings.clients; index += 1) {
    const client = new Client(url, settings.anonKey, topic, index === 0 ? 'couple' : 'supplier', onMessage);
    client.index = index;
    client.ws.onopen = () => client.join(settings.accessToken);
    clients.push(client);
  }
  // Whatever happens (a refused join, a dead socket), the session ends on time.
  const limitMs = (REALTIME_JOIN_SECONDS + REALTIME_SETTLE_SECONDS) * 1000
    + settings.changes * settings.changeIntervalMs;
  timers.push(setTimeout(finish, limitMs));
  heartbeat = setInterval(() => clients.forEach((client) => client.heartbeat()), HEARTBEAT_MS);
}
