/**
 * Learning-rate schedules of MindFormers (SPEC.md §5), as functions of the 0-based optimizer
 * step: warm-up `lr·step/warmup`, then cosine to lr_end, linear to lr_end, or constant.
 */

/** The lr_schedule block. */
export interface ScheduleConfig {
  type: 'CosineWithWarmUpLR' | 'LinearWithWarmUpLR' | 'ConstantWarmUpLR';
  learning_rate: number;
  lr_end: number;
  warmup_ratio: number;
  warmup_steps: number;
  total_steps: number;
}

/** The learning rate at each step of a run of `totalSteps` optimizer steps. */
export type Schedule = (step: number) => number;

/** Builds a schedule; total_steps −1 means the run's own total (epochs × steps per epoch). */
export function makeSchedule(c: ScheduleConfig, runSteps: number): Schedule {
  const total = c.total_steps > 0 ? c.total_steps : runSteps;
  const warmup = c.warmup_ratio > 0 ? Math.floor(total * c.warmup_ratio) : Math.max(0, c.warmup_steps);
  const decay = Math.max(1, total - warmup),
    lr = c.learning_rate,
    end = c.lr_end;
  return (step) => {
    if (step < warmup) return (lr * step) / warmup;
    const progress = Math.min(1, (step - warmup) / decay);
    switch (c.type) {
      case 'CosineWithWarmUpLR':
        return end + (lr - end) * 0.5 * (1 + Math.cos(Math.PI * progress));
      case 'LinearWithWarmUpLR':
        return end + (lr - end) * (1 - progress);
      case 'ConstantWarmUpLR':
        return lr;
    }
  };
}
