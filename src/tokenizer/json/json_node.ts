/**
 * Reading the parsed `tokenizer.json` with errors that name the file and the key path
 * (`tokenizer.json: pre_tokenizer.pretokenizers[1].type: expected a string`).
 */

/** One value of the document and where it is. */
export class JsonNode {
  constructor(
    readonly value: unknown,
    readonly source: string,
    readonly path = '',
  ) {}

  /** Throws the error for this value. */
  fail(what: string): never {
    throw new Error(`${this.source}: ${this.path || 'the top level'}: ${what}`);
  }

  /** Whether the value is absent or null. */
  get missing(): boolean {
    return this.value === undefined || this.value === null;
  }

  /** The member `key` of this object (missing if absent). */
  get(key: string): JsonNode {
    if (!this.isObject()) this.fail(`expected an object, got ${describe(this.value)}`);
    const value = Object.hasOwn(this.value as object, key) ? (this.value as Record<string, unknown>)[key] : undefined;
    return new JsonNode(value, this.source, this.path ? `${this.path}.${key}` : key);
  }

  /** Whether the value is a JSON object. */
  isObject(): boolean {
    return typeof this.value === 'object' && this.value !== null && !Array.isArray(this.value);
  }

  string(): string {
    if (typeof this.value !== 'string') this.fail(`expected a string, got ${describe(this.value)}`);
    return this.value;
  }

  number(): number {
    if (typeof this.value !== 'number') this.fail(`expected a number, got ${describe(this.value)}`);
    return this.value;
  }

  /** A non-negative integer. */
  index(): number {
    const n = this.number();
    if (!Number.isInteger(n) || n < 0) this.fail(`expected a non-negative integer, got ${n}`);
    return n;
  }

  boolean(): boolean {
    if (typeof this.value !== 'boolean') this.fail(`expected true or false, got ${describe(this.value)}`);
    return this.value;
  }

  /** The elements of an array. */
  items(): JsonNode[] {
    if (!Array.isArray(this.value)) this.fail(`expected an array, got ${describe(this.value)}`);
    return this.value.map((v, i) => new JsonNode(v, this.source, `${this.path}[${i}]`));
  }

  /** The value as a string, or `fallback` when missing. */
  optString(fallback: string): string;
  optString(fallback: null): string | null;
  optString(fallback: string | null): string | null {
    return this.missing ? fallback : this.string();
  }

  /** The value as a boolean, or `fallback` when missing. */
  optBoolean(fallback: boolean): boolean {
    return this.missing ? fallback : this.boolean();
  }

  /** The `type` member of a component, checked against the supported ones. */
  type<T extends string>(supported: readonly T[]): T {
    const t = this.get('type');
    const name = t.string();
    if (!(supported as readonly string[]).includes(name))
      t.fail(`"${name}" is not supported (supported: ${supported.join(', ')})`);
    return name as T;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : JSON.stringify(value);
}
