/** Timing for the benchmarks: tinybench's median of a few runs after warm-up. */
import { Bench } from 'tinybench';

/** How long and how often to run. */
export interface TimingOptions {
  /** milliseconds to keep sampling (0: just `iterations`) */
  time?: number;
  iterations?: number;
  warmupTime?: number;
  warmupIterations?: number;
}

/** Median milliseconds of fn. */
export async function medianMs(fn: () => unknown, o: TimingOptions = {}): Promise<number> {
  const bench = new Bench({
    time: o.time ?? 0,
    iterations: o.iterations ?? 3,
    warmupTime: o.warmupTime ?? 0,
    warmupIterations: o.warmupIterations ?? 1,
  });
  bench.add('x', fn);
  await bench.run();
  const r = bench.tasks[0].result;
  if (!r || !('latency' in r)) throw new Error('benchmark task failed');
  return r.latency.p50 ?? r.latency.mean;
}
