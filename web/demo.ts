/**
 * The browser page's computation, written once and run both in its web worker and in Node (the
 * browser test compares the two): Alpaca records → conversations → qa rows with the Llama
 * tokenizer (read from bytes) → a few LoRA steps on one batch of them (so the loss must fall),
 * on a model loaded from safetensors bytes (AdamW, global-norm clipping) → greedy generation. Only src/portable.ts is used: no file
 * system.
 */
import {
  adamwStep,
  alpacaToConversations,
  configFromHF,
  generate,
  globalGradNorm,
  LlamaTokenizer,
  loadCore,
  loadModelFromBytes,
  qaRow,
  renderConversation,
  scaleGrads,
  SentencePieceProcessor,
  WeightType,
  type AdamWConfig,
  type CoreKind,
} from '../src/portable.ts';

/** What the demo takes: the bytes it would read from files, and its settings. */
export interface DemoInput {
  /** a SentencePiece `tokenizer.model` */
  tokenizer: Uint8Array;
  /** a Hugging Face `config.json`, parsed */
  config: Record<string, unknown>;
  /** the model's `model.safetensors` */
  weights: Uint8Array;
  /** Alpaca records ({instruction, input, output}); the first `batch` are trained on */
  records: unknown[];
  /** the core build; 'auto' takes relaxed SIMD where the engine validates it */
  core: CoreKind | 'auto';
  steps: number;
  batch: number;
  /** positions per row S (rows hold S + 1 ids: inputs and shifted targets) */
  seqLength: number;
  lr: number;
  /** text to continue after training */
  prompt: string;
  maxNewTokens: number;
}

/** What it gives back. */
export interface DemoResult {
  /** the core build that ran */
  core: CoreKind;
  /** the loss of each optimizer step */
  losses: number[];
  /** the prompt's ids (with BOS) and the greedy continuation's */
  promptIds: number[];
  generatedIds: number[];
  /** the continuation as text */
  text: string;
  /** wall time of the whole run */
  ms: number;
}

/** The demo's settings, the same on the page and in the test. */
export const DEMO_SETTINGS = {
  steps: 3,
  batch: 2,
  seqLength: 128,
  lr: 1e-2,
  prompt: 'Give three tips for staying healthy.',
  maxNewTokens: 12,
};

/** LoRA on the attention projections, as the seed's pet_config. */
const LORA = { rank: 4, alpha: 8, dropout: 0, targetModules: ['wq', 'wk', 'wv', 'wo'] };

/** Runs the demo; `progress` receives one line per stage. */
export async function runDemo(input: DemoInput, progress: (line: string) => void = () => {}): Promise<DemoResult> {
  const t0 = performance.now();
  const core = await loadCore({ kind: input.core });
  const tok = new LlamaTokenizer(SentencePieceProcessor.fromBytes(input.tokenizer, 'tokenizer.model'));
  const config = configFromHF(input.config, 'config.json');
  const model = await loadModelFromBytes(core, input.weights, config, {
    mode: 'finetune',
    weightType: WeightType.F32,
    lora: LORA,
    seed: 0,
  });
  progress(
    `${core.kind} core; model: hidden ${config.dim}, ${config.nLayers} layers, vocab ${config.vocabSize}; LoRA rank ${LORA.rank}`,
  );

  // the batch: [B, S + 1] input ids and labels, in record order
  const { steps, batch: B, seqLength: S } = input;
  const conversations = alpacaToConversations(input.records.slice(0, B), 'records');
  const ids = new Int32Array(B * (S + 1)),
    labels = new Int32Array(B * (S + 1));
  conversations.forEach((c, i) => {
    const row = (a: Int32Array) => a.subarray(i * (S + 1), (i + 1) * (S + 1));
    qaRow(tok, renderConversation(c, i, 'records'), row(ids), row(labels));
  });

  const w = model.weights,
    adamw: AdamWConfig = { lr: input.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, biasCorrection: false };
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    w.zeroGrads();
    const { loss } = model.step(ids, labels, B, S, true);
    const norm = globalGradNorm(core, w.trainable);
    if (norm > 1) scaleGrads(core, w.trainable, 1 / norm);
    adamwStep(core, w.trainable, adamw, step + 1);
    losses.push(loss);
    progress(`step ${step + 1}/${steps}: loss ${loss.toFixed(6)}, gradient norm ${norm.toFixed(6)}`);
  }

  const promptIds = tok.encode(input.prompt, { eos: false });
  const generatedIds = generate(model, promptIds, { maxNewTokens: input.maxNewTokens });
  const text = tok.sp.decode(generatedIds);
  progress(`generated: ${JSON.stringify(text)}`);
  return { core: core.kind, losses, promptIds, generatedIds, text, ms: performance.now() - t0 };
}
