// The k6 options of one profile: one arrival-rate scenario per flow of the mix (k6 has no
// weights, so each flow gets its share of the rate), the Realtime scenario, and the SLOs as
// thresholds. Everything comes from profiles.json; the environment picks the profile and may
// override its rates (see docs/loadtests.md).

export const model = JSON.parse(open('./profiles.json'));

const DURATION_PATTERN = /^(\d+(\.\d+)?(ms|s|m|h))+$/;

function problem(message) {
  // Thrown in the init context: k6 stops before any request and prints this.
  return new Error(`wedsync load test: ${message}`);
}

function numberFrom(env, name, fallback, minimum) {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isFinite(value) || value < minimum) {
    throw problem(`${name}=${JSON.stringify(raw)} must be a number of at least ${minimum}`);
  }
  return value;
}

// "1h30m" -> seconds (k6's own duration syntax, the units used here).
export function seconds(duration) {
  const units = { ms: 0.001, s: 1, m: 60, h: 3600 };
  let total = 0;
  for (const [, amount, , unit] of duration.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * units[unit];
  }
  return total;
}

// The profile named by PROFILE with the environment's overrides applied.
export function chosenProfile(env) {
  const name = env.PROFILE || 'smoke';
  const base = model.profiles[name];
  if (base === undefined) {
    throw problem(`unknown PROFILE ${JSON.stringify(name)}; known: ${Object.keys(model.profiles).join(', ')}`);
  }
  const duration = env.DURATION || '';
  if (duration !== '' && !DURATION_PATTERN.test(duration)) {
    throw problem(`DURATION=${JSON.stringify(duration)} must be a k6 duration such as 10s, 5m or 1h30m`);
  }
  const realtime = base.realtime;
  return {
    ...base,
    name,
    rate_per_minute: numberFrom(env, 'RATE', base.rate_per_minute, 1),
    stages: base.stages.map((stage) => (stage.hold && duration ? { ...stage, duration } : stage)),
    max_iteration_seconds: numberFrom(env, 'MAX_ITERATION_SECONDS', base.max_iteration_seconds, 1),
    realtime: {
      sessions_per_minute: numberFrom(env, 'REALTIME_RATE', realtime.sessions_per_minute, 0),
      clients: numberFrom(env, 'REALTIME_CLIENTS', realtime.clients, 2),
      changes: numberFrom(env, 'REALTIME_CHANGES', realtime.changes, 1),
      change_interval_ms: numberFrom(env, 'REALTIME_CHANGE_INTERVAL_MS', realtime.change_interval_ms, 10),
    },
  };
}

// How long one Realtime session lasts: joins, the changes, then time for the last to arrive.
export const REALTIME_JOIN_SECONDS = 5;
export const REALTIME_SETTLE_SECONDS = 1;

export function realtimeSessionSeconds(realtime) {
  return REALTIME_JOIN_SECONDS + (realtime.changes * realtime.change_interval_ms) / 1000
    + REALTIME_SETTLE_SECONDS;
}

// An arrival-rate scenario running `exec` at `perMinute` iterations a minute at level 1.
function arrivalScenario(profile, exec, perMinute, iterationSeconds) {
  const levels = profile.stages.map((stage) => stage.level);
  const peakPerSecond = (perMinute * Math.max(profile.start_level, ...levels)) / 60;
  const vus = {
    preAllocatedVUs: Math.max(1, Math.ceil(peakPerSecond * iterationSeconds)),
    maxVUs: Math.max(2, Math.ceil(peakPerSecond * (iterationSeconds + profile.max_iteration_seconds))),
  };
  // rate must be an integer: per minute keeps the mix exact down to small rates.
  const at = (level) => Math.round(perMinute * level);
  if (levels.every((level) => level === profile.start_level)) {
    const total = profile.stages.reduce((sum, stage) => sum + seconds(stage.duration), 0);
    return {
      executor: 'constant-arrival-rate', exec, rate: at(profile.start_level), timeUnit: '1m',
      duration: `${total}s`, ...vus,
    };
  }
  return {
    executor: 'ramping-arrival-rate', exec, startRate: at(profile.start_level), timeUnit: '1m',
    stages: profile.stages.map((stage) => ({ duration: stage.duration, target: at(stage.level) })),
    ...vus,
  };
}

export function scenarios(profile) {
  const out = {};
  for (const [name, weight] of Object.entries(model.mix)) {
    out[name] = arrivalScenario(profile, name, (profile.rate_per_minute * weight) / 100, 1);
  }
  if (profile.realtime.sessions_per_minute > 0) {
    out[model.realtime_scenario] = arrivalScenario(
      profile, model.realtime_scenario, profile.realtime.sessions_per_minute,
      realtimeSessionSeconds(profile.realtime));
  }
  return out;
}

// The SLOs, the per-scenario failure rates (so that a verdict can name the failing flow), and
// empty lists for the per-scenario figures the summary needs (k6 only reports a sub-metric that
// has a threshold entry).
export function thresholds(profile, scenarioNames) {
  const out = {};
  const add = (metric, entries) => {
    out[metric] = [...(out[metric] || []), ...entries];
  };
  for (const [metric, entries] of Object.entries(model.thresholds)) {
    const realtimeMetric = metric.startsWith(`${model.realtime_scenario}_`);
    if (!realtimeMetric || scenarioNames.includes(model.realtime_scenario)) {
      add(metric, entries);
    }
  }
  for (const name of scenarioNames) {
    const kind = name === model.realtime_scenario ? 'realtime' : 'mix';
    for (const metric of model.tracked[kind]) {
      add(`${metric}{scenario:${name}}`, []);
    }
    if (kind === 'mix') {
      for (const [metric, entries] of Object.entries(model.scenario_thresholds)) {
        add(`${metric}{scenario:${name}}`, entries);
      }
    }
  }
  if (profile.abort_on_failure) {
    add(model.abort.metric, [{
      threshold: model.abort.threshold, abortOnFail: true, delayAbortEval: model.abort.delayAbortEval,
    }]);
  }
  return out;
}

export function buildOptions(profile) {
  const planned = scenarios(profile);
  return {
    scenarios: planned,
    thresholds: thresholds(profile, Object.keys(planned)),
    summaryTrendStats: model.summary_trend_stats,
    tags: { profile: profile.name },
    userAgent: 'wedsync-loadtest (k6)',
  };
}
