/** A few lines of a run configuration's key settings, for the start of a run's log. */
import type { RunConfig } from './types.ts';

/** A number as people write it: 1e-5 rather than 0.00001. */
function num(n: number): string {
  return n !== 0 && Math.abs(n) < 1e-2 ? n.toExponential() : String(Number(n.toPrecision(6)));
}

/** The run's mode, model, LoRA, data and (by mode) training or decoding settings, one topic a line. */
export function configSummary(c: RunConfig): string {
  const m = c.model.model_config,
    pet = m.pet_config;
  const kv = typeof m.n_kv_heads === 'number' ? m.n_kv_heads : m.num_heads;
  const lines = [
    `run_mode ${c.run_mode}, seed ${c.seed}, output_dir ${c.output_dir}, core ${c.device_target}` +
      (c.load_checkpoint ? `, load_checkpoint ${c.load_checkpoint}` : ', no load_checkpoint'),
    `model: hidden ${m.hidden_size}, ${m.num_layers} layers, ${m.num_heads} heads (${kv} kv), vocab ${m.vocab_size}, ` +
      `seq_length ${m.seq_length}, base weights ${m.param_init_type}` +
      (pet
        ? `; LoRA rank ${pet.lora_rank}, alpha ${pet.lora_alpha}, dropout ${pet.lora_dropout}, on ${String(pet.target_modules)}`
        : '; no LoRA'),
  ];
  if (c.run_mode === 'train' || c.run_mode === 'finetune') {
    const r = c.runner_config,
      lr = c.lr_schedule,
      o = c.optimizer;
    const ranks = c.use_parallel ? c.parallel_config.data_parallel : 1;
    const warmup = lr.warmup_ratio > 0 ? `${num(lr.warmup_ratio * 100)}% warm-up` : `${lr.warmup_steps} warm-up steps`;
    lines.push(
      `data: ${c.train_dataset.data_loader.dataset_dir || '(no train_dataset dir)'}, shuffle ${c.train_dataset.data_loader.shuffle}`,
      `train: ${r.epochs} epoch${r.epochs === 1 ? '' : 's'}, batch ${r.batch_size} per rank × ${ranks} rank(s) × ${r.gradient_accumulation_steps} accumulation = ` +
        `${r.batch_size * ranks * r.gradient_accumulation_steps} per step` +
        (c.recompute_config.recompute ? ', recompute' : ''),
      `${o.type} (betas ${o.beta1}, ${o.beta2}, eps ${num(o.eps)}, weight_decay ${o.weight_decay}); ` +
        `${lr.type} ${num(lr.learning_rate)} → ${num(lr.lr_end)}, ${warmup}` +
        (c.runner_wrapper.use_clip_grad ? `; clip global norm ${c.runner_wrapper.max_grad_norm}` : '; no clipping'),
    );
    const ckpt = c.callbacks.find((cb) => cb.type === 'CheckpointMonitor');
    if (ckpt && ckpt.type === 'CheckpointMonitor') {
      lines.push(
        `checkpoints: ${ckpt.prefix}, every ${ckpt.save_checkpoint_steps} steps, keep ${ckpt.keep_checkpoint_max} (${ckpt.checkpoint_format})` +
          (c.resume_training !== false
            ? `, resume ${c.resume_training === true ? 'from the latest' : c.resume_training}`
            : ''),
      );
    }
  } else if (c.run_mode === 'eval') {
    lines.push(
      `data: ${c.eval_dataset.data_loader.dataset_dir || '(no eval_dataset dir)'}, batch ${c.eval_dataset.batch_size}` +
        (c.num_samples > 0 ? `, first ${c.num_samples} records` : ''),
    );
  } else {
    lines.push(
      `decoding: ${m.do_sample ? `sampling (top_k ${m.top_k}, top_p ${m.top_p}, temperature ${m.temperature})` : 'greedy'}, ` +
        `repetition_penalty ${m.repetition_penalty}, max_decode_length ${m.max_decode_length}, ` +
        `${c.predict_data.length} prompt(s) in batches of ${c.predict_batch_size}${c.chat ? ', through the chat template' : ''}`,
    );
  }
  return lines.join('\n');
}
