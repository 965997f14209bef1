// WedSync wedding-day load test (k6 1.1). Run it through `python -m loadtests run` (see
// docs/loadtests.md), or directly:
//
//   PROFILE=smoke BASE_URL=… REALTIME_URL=… ANON_KEY=… API_TOKEN=… \
//     k6 run --no-usage-report wedding_day.js
//
// Scenarios: vendor_dashboard 40%, couple_forms 30%, wedding_day_ops 20%, payments 10% of the
// HTTP mix (arrival-rate, one scenario per flow), plus realtime_core_fields (Core Fields
// propagation between the clients of a couple's channel). Profiles, rates and SLO thresholds
// live in profiles.json. The profile comes from PROFILE: k6's --vus/--duration would replace
// the scenarios entirely.

import { buildOptions, chosenProfile } from './options.js';
import { coreFieldsSession } from './realtime.js';

export { couple_forms, payments, vendor_dashboard, wedding_day_ops } from './flows.js';

const PROFILE = chosenProfile(__ENV);

export const options = buildOptions(PROFILE);

const SESSION = {
  realtimeUrl: __ENV.REALTIME_URL || 'ws://127.0.0.1:54321/realtime/v1',
  anonKey: __ENV.ANON_KEY || '',
  accessToken: __ENV.API_TOKEN || '',
  clients: PROFILE.realtime.clients,
  changes: PROFILE.realtime.changes,
  changeIntervalMs: PROFILE.realtime.change_interval_ms,
};

export function realtime_core_fields() {
  coreFieldsSession(SESSION);
}

// k6's whole end-of-test data, for the Python tooling to turn into the summary and verdict.
export function handleSummary(data) {
  const path = __ENV.SUMMARY_JSON || 'k6-summary.json';
  return {
    [path]: JSON.stringify(data),
    stdout: `k6 end-of-test data written to ${path}; for the verdict: python -m loadtests verdict ${path}\n`,
  };
}
