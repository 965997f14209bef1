// The four HTTP flows of the wedding-day mix. Each request carries the tags `endpoint` (the
// flow's name for it, stable when the paths differ) and `name` (the path, so that the `url`
// k6 records stays one value per endpoint).

import http from 'k6/http';
import { check } from 'k6';
import { model } from './options.js';
import { PHOTO, PHOTO_TYPE } from './photo.js';

function problem(message) {
  return new Error(`wedsync load test: ${message}`);
}

// Paths from profiles.json, overridden by API_PATHS (a JSON object of the same keys).
export function apiPaths(env) {
  if (!env.API_PATHS) {
    return model.paths;
  }
  let overrides;
  try {
    overrides = JSON.parse(env.API_PATHS);
  } catch (error) {
    throw problem(`API_PATHS is not JSON: ${error}`);
  }
  const unknown = Object.keys(overrides).filter((key) => !(key in model.paths));
  if (unknown.length > 0) {
    throw problem(`API_PATHS has unknown keys ${unknown.join(', ')}; known: ${Object.keys(model.paths).join(', ')}`);
  }
  for (const [key, path] of Object.entries(overrides)) {
    if (typeof path !== 'string' || !path.startsWith('/')) {
      throw problem(`API_PATHS.${key} must be a path starting with /`);
    }
  }
  return { ...model.paths, ...overrides };
}

const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:54321').replace(/\/+$/, '');
const PATHS = apiPaths(__ENV);
const AUTHORIZATION = __ENV.API_TOKEN ? { Authorization: `Bearer ${__ENV.API_TOKEN}` } : {};
const JSON_HEADERS = { ...AUTHORIZATION, 'Content-Type': 'application/json' };

function randomId(prefix) {
  return `${prefix}-${Math.floor(Math.random() * 1e12).toString(36)}`;
}

function pick(values) {
  return values[Math.floor(Math.random() * values.length)];
}

function params(endpoint, headers) {
  return { headers, tags: { endpoint, name: PATHS[endpoint] } };
}

function request(method, endpoint, body) {
  return [method, `${BASE_URL}${PATHS[endpoint]}`, body === undefined ? null : JSON.stringify(body),
    params(endpoint, body === undefined ? AUTHORIZATION : JSON_HEADERS)];
}

function field(response, name) {
  try {
    return response.json(name);
  } catch (error) {
    return undefined;
  }
}

// One check per endpoint: the expected status and the field the client goes on to use.
function expect(response, endpoint, status, fieldName) {
  return check(response, {
    [`${endpoint} answers ${status}`]: (r) => r.status === status,
    [`${endpoint} body has ${fieldName}`]: (r) => field(r, fieldName) !== undefined,
  });
}

// 40%: a supplier opens the dashboard (the page fetches its three panels at once).
export function vendor_dashboard() {
  const [dashboard, clients, upcoming] = http.batch([
    request('GET', 'dashboard'),
    request('GET', 'clients'),
    request('GET', 'upcoming_weddings'),
  ]);
  expect(dashboard, 'dashboard', 200, 'upcoming');
  expect(clients, 'clients', 200, 'clients');
  expect(upcoming, 'upcoming_weddings', 200, 'weddings');
}

// 30%: a couple submits a form and uploads a photo.
export function couple_forms() {
  const coupleId = randomId('couple');
  const submitted = http.request(...request('POST', 'form_submit', {
    couple_id: coupleId,
    form_id: pick(['guest-list', 'dietary-requirements', 'music-requests', 'photo-shot-list']),
    answers: { guest_count: 60 + Math.floor(Math.random() * 120), notes: 'Ceremony at 2pm' },
  }));
  expect(submitted, 'form_submit', 201, 'submission_id');
  const uploaded = http.post(`${BASE_URL}${PATHS.photo_upload}`, {
    couple_id: coupleId,
    photo: http.file(PHOTO, 'inspiration.png', PHOTO_TYPE),
  }, params('photo_upload', AUTHORIZATION));
  expect(uploaded, 'photo_upload', 201, 'photo_id');
}

// 20%: on the day, a supplier moves the timeline, messages the party and ticks off a task.
export function wedding_day_ops() {
  const weddingId = randomId('wedding');
  const timeline = http.request(...request('PUT', 'timeline_update', {
    wedding_id: weddingId,
    items: [
      { time: '14:00', title: 'Ceremony' },
      { time: '15:15', title: 'Group photos' },
      { time: '16:30', title: 'Wedding breakfast' },
    ],
  }));
  expect(timeline, 'timeline_update', 200, 'updated_at');
  const sent = http.request(...request('POST', 'communication_send', {
    recipients: [randomId('guest'), randomId('supplier')],
    channel: pick(['email', 'sms', 'in_app']),
    message: 'Photos moved to 15:15 by the lake.',
  }));
  expect(sent, 'communication_send', 202, 'message_id');
  const task = http.request(...request('PUT', 'task_complete', { task_id: randomId('task') }));
  expect(task, 'task_complete', 200, 'completed_at');
}

// 10%: an invoice is raised and paid.
export function payments() {
  const invoice = http.request(...request('POST', 'invoice_generate', {
    client_id: randomId('client'),
    items: [{ description: 'Photography deposit', amount: 450.0 }, { description: 'Album', amount: 120.0 }],
  }));
  expect(invoice, 'invoice_generate', 201, 'invoice_id');
  const paid = http.request(...request('POST', 'payment_process', {
    invoice_id: field(invoice, 'invoice_id') || randomId('invoice'),
    amount: 570.0,
    currency: 'GBP',
    payment_method_id: randomId('pm'),
  }));
  expect(paid, 'payment_process', 200, 'payment_id');
}
