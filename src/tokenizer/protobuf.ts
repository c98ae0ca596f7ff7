/**
 * A reader and a writer for the protobuf wire format, enough to walk or build a message field by
 * field without generated code: varints, 32-bit fixed values, length-delimited bytes. Groups
 * (wire types 3 and 4) are rejected, which also rejects most files that are not protobuf at all.
 */

/** Wire types of the protobuf encoding. */
export const enum Wire {
  Varint = 0,
  Fixed64 = 1,
  Bytes = 2,
  Fixed32 = 5,
}

/** A malformed or cut-off protobuf message; `truncated` tells which. */
export class ProtobufError extends Error {
  constructor(
    message: string,
    readonly truncated: boolean,
  ) {
    super(message);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reads the fields of one message in bytes[start, end): call next(), then one value reader (or skip()). */
export class ProtobufReader {
  private pos: number;
  /** Field number and wire type of the field next() stopped at. */
  field = 0;
  wire = 0;

  constructor(
    private readonly bytes: Uint8Array,
    start = 0,
    private readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  /** Moves to the next field's tag; false at the end of the message. */
  next(): boolean {
    if (this.pos >= this.end) return false;
    const at = this.pos;
    const tag = this.uint32();
    this.field = tag >>> 3;
    this.wire = tag & 7;
    if (this.field === 0) throw new ProtobufError(`field number 0 at byte ${at}`, false);
    if (
      this.wire !== Wire.Varint &&
      this.wire !== Wire.Fixed64 &&
      this.wire !== Wire.Bytes &&
      this.wire !== Wire.Fixed32
    ) {
      throw new ProtobufError(`unsupported wire type ${this.wire} at byte ${at}`, false);
    }
    return true;
  }

  /** A varint's low 32 bits as an unsigned number (enums, bools, lengths). */
  uint32(): number {
    let lo = 0;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.end) throw new ProtobufError(`varint runs past the end at byte ${this.pos}`, true);
      if (shift >= 70) throw new ProtobufError(`varint longer than 10 bytes at byte ${this.pos}`, false);
      const b = this.bytes[this.pos++];
      if (shift < 32) lo |= (b & 0x7f) << shift;
      if (b < 0x80) return lo >>> 0;
    }
  }

  /** A varint as a signed 32-bit integer (int32 fields; negatives take 10 bytes). */
  int32(): number {
    return this.uint32() | 0;
  }

  /** A 32-bit little-endian float (wire type 5). */
  float(): number {
    this.need(4);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  /** A length-delimited field's payload, as a view into the message bytes. */
  bytesField(): Uint8Array {
    const n = this.uint32();
    this.need(n);
    const v = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** A length-delimited field as UTF-8 text. */
  string(): string {
    const at = this.pos;
    try {
      const bytes = this.bytesField();
      if (bytes.length <= 16 && bytes.every((b) => b < 0x80)) return String.fromCharCode(...bytes); // short ASCII, the common case
      return utf8.decode(bytes);
    } catch (err) {
      if (err instanceof ProtobufError) throw err;
      throw new ProtobufError(`string field at byte ${at} is not valid UTF-8`, false);
    }
  }

  /** A reader over an embedded message (a length-delimited field). */
  message(): ProtobufReader {
    const n = this.uint32();
    this.need(n);
    const sub = new ProtobufReader(this.bytes, this.pos, this.pos + n);
    this.pos += n;
    return sub;
  }

  /** Skips the current field's value. */
  skip(): void {
    switch (this.wire) {
      case Wire.Varint:
        this.uint32();
        break;
      case Wire.Fixed64:
        this.need(8);
        this.pos += 8;
        break;
      case Wire.Fixed32:
        this.need(4);
        this.pos += 4;
        break;
      default:
        this.bytesField();
    }
  }

  /** Throws unless the current field has the given wire type. */
  expect(wire: Wire, what: string): void {
    if (this.wire !== wire) throw new ProtobufError(`${what} has wire type ${this.wire}, expected ${wire}`, false);
  }

  private need(n: number): void {
    if (this.pos + n > this.end)
      throw new ProtobufError(`a ${n}-byte value at byte ${this.pos} runs past the end`, true);
  }
}

/** A varint's bytes (v a whole number below 2^53). */
export function varintBytes(v: number): number[] {
  const out: number[] = [];
  for (; v >= 0x80; v = Math.floor(v / 128)) out.push((v % 128) | 0x80);
  out.push(v);
  return out;
}

/** The key of field `field` with wire type `wire`; for a length-delimited field, the `length` of its body after it. */
export function fieldHead(field: number, wire: Wire, length = 0): number[] {
  const key = varintBytes(field * 8 + wire);
  return wire === Wire.Bytes ? [...key, ...varintBytes(length)] : key;
}

/** Builds one message field by field: varints, 32-bit floats, length-delimited bytes and strings. */
export class ProtobufWriter {
  private readonly parts: number[] = [];

  /** A varint field. */
  int(field: number, v: number): this {
    this.parts.push(...fieldHead(field, Wire.Varint), ...varintBytes(v));
    return this;
  }

  /** A 32-bit little-endian float field. */
  float(field: number, v: number): this {
    this.parts.push(...fieldHead(field, Wire.Fixed32), ...new Uint8Array(Float32Array.of(v).buffer));
    return this;
  }

  /** A length-delimited field (an embedded message's bytes). */
  bytes(field: number, b: Uint8Array): this {
    this.parts.push(...fieldHead(field, Wire.Bytes, b.length));
    for (const x of b) this.parts.push(x);
    return this;
  }

  /** A length-delimited field of UTF-8 text. */
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  /** The message's bytes. */
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}
