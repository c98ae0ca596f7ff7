/**
 * What the engine offers beyond the web platform. Node, Deno and Bun have Node's built-in
 * modules (`node:fs`, `node:zlib`, ...); browsers do not. Modules that read files import those
 * only where `nodeBuiltins` is true, so they still load in a browser, where their in-memory
 * paths run.
 */

/** Whether `node:` built-in modules can be imported here (Node, Deno, Bun; not browsers). */
export const nodeBuiltins: boolean =
  typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === 'string';

/** Whether a memory's buffer is shared (pages that are not cross-origin isolated have no SharedArrayBuffer at all). */
export function isShared(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}
