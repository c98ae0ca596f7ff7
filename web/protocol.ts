/** The messages between the page (main.ts) and its worker (worker.ts). */
import type { CoreKind } from '../src/portable.ts';
import type { DemoResult } from './demo.ts';

/** Page → worker: where the files are (a URL ending in /) and which core to run. */
export interface DemoRequest {
  data: string;
  core: CoreKind | 'auto';
}

/** Worker → page: a progress line, the result, or the error that stopped the run. */
export type DemoMessage =
  | { type: 'progress'; line: string }
  | { type: 'result'; result: DemoResult }
  | { type: 'error'; message: string };
