/**
 * Runs the PyTorch reference (test/reference/llama_ref.py, Debian's python3-torch through
 * /usr/bin/python3) on a model's exact weights and a batch, and reads back its logits, loss and
 * gradients.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../src/checkpoint/safetensors.ts';
import { configToHF } from '../../src/model/config.ts';
import { LINEARS } from '../../src/model/lora.ts';
import type { LlamaModel } from '../../src/model/llama.ts';

const REF = new URL('../reference/llama_ref.py', import.meta.url).pathname;

/** What the reference computed. */
export interface RefResult {
  logits: Float32Array;
  loss: number;
  grads: Map<string, Float32Array>;
}

/** The model's weights as the kernels see them (dequantized), plus LoRA tensors, by HF name. */
export function exportWeights(model: LlamaModel): TensorToWrite[] {
  const w = model.weights,
    arena = model.core.arena;
  const out: TensorToWrite[] = [];
  for (const t of w.baseTensors()) {
    const data = t.matrix ? w.getMatrix(t.matrix) : Float32Array.from(arena.f32(t.vector!, t.shape[0]));
    out.push({ name: t.name, dtype: 'F32', shape: t.shape, data });
  }
  for (const layer of w.layers) {
    for (const ad of Object.values(layer.lora)) {
      for (const p of [ad.a, ad.b])
        out.push({ name: p.name, dtype: 'F32', shape: p.shape, data: Float32Array.from(arena.f32(p.ptr, p.n)) });
    }
  }
  return out;
}

/** Runs a llama_ref.py subcommand on the model's weights (or `weightsFile`) and the batch; returns its output tensors. */
export function runReference(
  model: LlamaModel,
  ids: Int32Array,
  labels: Int32Array,
  B: number,
  S: number,
  command: 'step' | 'optstep',
  extra: string[] = [],
  weightsFile?: string,
): Map<string, Float32Array> {
  const dir = mkdtempSync(join(tmpdir(), 'wasmformers-ref-'));
  try {
    const cfg = join(dir, 'config.json'),
      weights = weightsFile ?? join(dir, 'w.safetensors'),
      batch = join(dir, 'b.safetensors'),
      out = join(dir, 'o.safetensors');
    writeFileSync(cfg, JSON.stringify(configToHF(model.config)));
    if (!weightsFile) writeSafetensors(weights, exportWeights(model));
    writeSafetensors(batch, [
      { name: 'input_ids', dtype: 'I32', shape: [B, S + 1], data: ids },
      { name: 'labels', dtype: 'I32', shape: [B, S + 1], data: labels },
    ]);
    const args = [
      REF,
      command,
      '--config',
      cfg,
      '--weights',
      weights,
      '--batch',
      batch,
      '--out',
      out,
      '--mode',
      weightsFile ? 'train' : model.options.mode,
      ...extra,
    ];
    const lora = model.options.lora;
    if (lora && model.options.mode === 'finetune' && !weightsFile) {
      const targets = LINEARS.filter((l) => model.loraKinds().includes(l.kind)).map((l) => l.hf);
      const lj = join(dir, 'lora.json');
      writeFileSync(lj, JSON.stringify({ rank: lora.rank, alpha: lora.alpha, targets }));
      args.push('--lora', lj);
    }
    execFileSync('/usr/bin/python3', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    const f = SafetensorsFile.open(out);
    const result = new Map<string, Float32Array>();
    for (const name of f.tensors.keys()) result.set(name, f.readF32(name));
    f.close();
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs one reference step (forward, loss, backward) on the model's weights and the batch; with
 * `weightsFile` the reference reads that checkpoint instead (then only logits and loss compare:
 * it trains every tensor, and the model's adapters must be inactive, as LoRA B starts at zero).
 */
export function referenceStep(
  model: LlamaModel,
  ids: Int32Array,
  labels: Int32Array,
  B: number,
  S: number,
  weightsFile?: string,
): RefResult {
  const out = runReference(model, ids, labels, B, S, 'step', [], weightsFile);
  const grads = new Map<string, Float32Array>();
  for (const [name, t] of out) if (name.startsWith('grad.')) grads.set(name.slice(5), t);
  return { logits: out.get('logits')!, loss: out.get('loss')![0], grads };
}
