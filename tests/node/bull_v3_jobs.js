// Real Bull v3 jobs for tests/test_queue_probe_bull_v3.py: node bull_v3_jobs.js REDIS_URL
// - "legacy": two waiting jobs (the older created 45 s ago), a delayed one, then paused
//   (Bull v3's pause renames `wait` to `paused` and sets `meta-paused`);
// - "worked": a worker completed one job, failed one, and hangs on a third (active).
// Prints "ready" once all that is in Redis, and exits when its standard input closes.
const Queue = require('bull');

async function main() {
  const url = process.argv[2];
  const legacy = new Queue('legacy', url);
  await legacy.add({ n: 1 }, { timestamp: Date.now() - 45000 });
  await legacy.add({ n: 2 });
  await legacy.add({ n: 3 }, { delay: 3600000 });
  await legacy.pause();

  const worked = new Queue('worked', url);
  let finished = 0;
  worked.on('completed', () => { finished += 1; });
  worked.on('failed', () => { finished += 1; });
  worked.process(1, (job) => {
    if (job.data.kind === 'bad') return Promise.reject(new Error('fails on purpose'));
    if (job.data.kind === 'hang') return new Promise(() => {});
    return Promise.resolve('done');
  });
  await worked.add({ kind: 'ok' });
  await worked.add({ kind: 'bad' }, { attempts: 1 });
  while (finished < 2) await new Promise((r) => setTimeout(r, 50));
  await worked.add({ kind: 'hang' });
  while ((await worked.getActiveCount()) < 1) await new Promise((r) => setTimeout(r, 50));
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

main().catch((error) => { console.error(error); process.exit(1); });
