/** Paths every test shares: the repository root and the real data and checkpoint in ../shared. */
import { join } from 'node:path';

/** The repository root (ends with '/'). */
export const ROOT = new URL('../', import.meta.url).pathname;
/** ../shared beside the checkout: real data and a real Hugging Face checkpoint, never copied in. */
export const SHARED = join(ROOT, '..', 'shared');
/** The tiny random Llama 2 checkpoint (config.json + model.safetensors). */
export const TINY = join(SHARED, 'models', 'tiny-random-llama-2');
/** The 5,000 Alpaca records. */
export const ALPACA = join(SHARED, 'data', 'alpaca', 'alpaca_5000.json');
