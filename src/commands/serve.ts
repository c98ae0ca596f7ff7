/**
 * `wasmformers serve --load_checkpoint <model> [--adapter name=path ...] [--host 127.0.0.1]
 * [--port 8080] [--api_key K] [--threads N] [--dtype f32|bf16|int8|q8_0|q4_0|q5_0|q4_1|q5_1|q4_k|q5_k|q6_k|stored]
 * [--activations int8|f32]`: an
 * OpenAI-compatible server (src/serve/) for the base model, its weights stored as --dtype (by
 * default as stored for a GGUF file, f32 otherwise), and
 * every LoRA adapter beside it. The key may come from WASMFORMERS_API_KEY instead of the command
 * line (where other users of the machine can read it). SIGTERM or SIGINT stop accepting
 * requests, let the running ones finish within --drain_timeout seconds, and exit 0.
 */
import { createApp } from '../serve/app.ts';
import { listen } from '../serve/listen.ts';
import { loadServed } from '../serve/served.ts';
import { defaultDtype, weightStorage } from '../model/weight_dtype.ts';
import { parseActivations } from '../model/options.ts';
import { defaultThreads } from '../runtime/threads.ts';
import { parseFlags } from './flags.ts';

/** The `--adapter name=path` values (the flag repeats), and the other arguments. */
function adapterFlags(argv: string[]): { adapters: { name: string; dir: string }[]; rest: string[] } {
  const adapters: { name: string; dir: string }[] = [],
    rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    let value: string | undefined;
    if (argv[i] === '--adapter') value = argv[++i];
    else if (argv[i].startsWith('--adapter=')) value = argv[i].slice('--adapter='.length);
    else {
      rest.push(argv[i]);
      continue;
    }
    const eq = value?.indexOf('=') ?? -1;
    if (value === undefined || eq <= 0 || eq === value.length - 1)
      throw new Error(`--adapter takes name=path (a PEFT adapter folder), got ${JSON.stringify(value ?? '')}`);
    adapters.push({ name: value.slice(0, eq), dir: value.slice(eq + 1) });
  }
  return { adapters, rest };
}

/** Runs the command; see the file comment. */
export async function main(argv: string[]): Promise<number> {
  const { adapters, rest } = adapterFlags(argv);
  const f = parseFlags(rest, {
    load_checkpoint: { kind: 'string', required: true },
    model_name: { kind: 'string' },
    tokenizer: { kind: 'string' },
    dtype: { kind: 'string' },
    activations: { kind: 'string', default: 'int8' },
    device_target: { kind: 'string', default: 'auto' },
    host: { kind: 'string', default: '127.0.0.1' },
    port: { kind: 'number', default: 8080 },
    api_key: { kind: 'string' },
    max_running: { kind: 'number', default: 16 },
    max_queue: { kind: 'number', default: 64 },
    max_seq_length: { kind: 'number' },
    timeout: { kind: 'number', default: 600 },
    body_limit: { kind: 'number', default: 1 << 20 },
    drain_timeout: { kind: 'number', default: 30 },
    threads: { kind: 'number' },
  });
  const storage = weightStorage(
      (f.dtype as string | undefined) ?? defaultDtype(f.load_checkpoint as string),
      '--dtype',
    ),
    activations = parseActivations(f.activations as string, '--activations');
  const core = f.device_target as string;
  if (!['auto', 'relaxed', 'simd'].includes(core))
    throw new Error(`--device_target ${core}: expected auto, relaxed or simd`);
  const whole = (name: string, min: number) => {
    const v = f[name] as number | undefined;
    if (v !== undefined && !(Number.isInteger(v) && v >= min))
      throw new Error(`--${name} takes a whole number of at least ${min}, got ${v}`);
    return v;
  };
  const seconds = (name: string) => {
    const v = f[name] as number;
    if (!(Number.isFinite(v) && v > 0)) throw new Error(`--${name} takes a number of seconds above 0, got ${v}`);
    return v;
  };
  const port = whole('port', 0)!,
    drainMs = seconds('drain_timeout') * 1000;
  if (port > 65535) throw new Error(`--port ${port}: at most 65535`);
  const served = await loadServed({
    checkpoint: f.load_checkpoint as string,
    name: f.model_name as string | undefined,
    adapters,
    tokenizer: f.tokenizer as string | undefined,
    ...storage,
    activations,
    core: core as 'auto',
    maxRunning: whole('max_running', 1)!,
    maxQueue: whole('max_queue', 0)!,
    contextLength: whole('max_seq_length', 2),
    deadlineSeconds: seconds('timeout'),
    threads: whole('threads', 1) ?? defaultThreads(),
  });
  const app = createApp(served, {
    apiKey: (f.api_key as string | undefined) ?? process.env.WASMFORMERS_API_KEY,
    bodyLimitBytes: whole('body_limit', 1)!,
  });
  const server = await listen(app.fetch, f.host as string, port);
  // The handlers come first: a signal sent as soon as the line below is read must drain, not kill.
  const stopping = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  for (const line of served.summary) console.log(line);
  console.log(`serving on http://${f.host}:${server.port}/v1 (${server.runtime})`);
  const signal = await stopping;
  const { running, queued } = served.engine.load;
  console.log(
    `${signal}: no new requests; finishing ${running} running (up to ${f.drain_timeout} s), refusing ${queued} waiting`,
  );
  const stopped = server.stop();
  await served.engine.drain(drainMs);
  await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 1000))]);
  console.log(`stopped after ${served.engine.tokens} tokens in ${served.engine.steps} batched steps`);
  // Idle keep-alive connections would hold the process open: the work is done, so leave now.
  process.exit(0);
}
