/**
 * SafetensorsWriter: one .safetensors file written tensor by tensor, for
 * outputs too large to hold at once (the quantize command). The header
 * comes first in the format, so every tensor is declared up front (name,
 * dtype, shape); the layout is saveSafetensors's (safetensorsLayout), and
 * each tensor's bytes go to their place with positioned writes, in any
 * order, while other work goes on. close() checks that every tensor was
 * written and renames the temporary file into place; abort() removes it.
 */
import * as fs from 'node:fs';

import { MarlinError } from '../errors';
import { type SafetensorsLayout, type TensorEntry, safetensorsLayout, writeAt } from './safetensors';

/** One .safetensors file written tensor by tensor (see create()): declared up front, each tensor written once in any order, then close() (or abort()). */
export class SafetensorsWriter {
  /** Path of the file close() renames the output to. */
  readonly file: string;
  /** Where each declared tensor's bytes go in the file. */
  readonly layout: SafetensorsLayout;
  private readonly temporary: string;
  private handle: fs.promises.FileHandle | undefined;
  private readonly written = new Set<string>();

  private constructor(file: string, temporary: string, handle: fs.promises.FileHandle, layout: SafetensorsLayout) {
    this.file = file;
    this.temporary = temporary;
    this.handle = handle;
    this.layout = layout;
  }

  /** Creates the temporary file of `file` and writes its header. */
  static async create(file: string, entries: readonly TensorEntry[], metadata: Readonly<Record<string, string>> = {}): Promise<SafetensorsWriter> {
    const layout = safetensorsLayout(entries, metadata);
    const temporary = `${file}.tmp-${process.pid}-${Date.now()}`;
    const handle = await fs.promises.open(temporary, 'w');
    try {
      await writeAt(handle, layout.header, 0);
      return new SafetensorsWriter(file, temporary, handle, layout);
    } catch (error) {
      await handle.close().catch(() => undefined);
      await fs.promises.rm(temporary, { force: true });
      throw error;
    }
  }

  /** Writes a declared tensor's data (exactly its dtype x shape bytes), once. */
  async write(name: string, data: ArrayBufferView): Promise<void> {
    const handle = this.handle;
    if (!handle) throw new MarlinError('DISPOSED', `${this.file} was closed`);
    const place = this.layout.places.get(name);
    if (!place) throw new MarlinError('BAD_ARGUMENT', `tensor '${name}' was not declared for ${this.file}`);
    if (data.byteLength !== place.byteLength)
      throw new MarlinError('BAD_ARGUMENT', `Expected ${place.byteLength} bytes for tensor '${name}' of ${this.file} but received ${data.byteLength}`);
    if (this.written.has(name)) throw new MarlinError('BAD_ARGUMENT', `tensor '${name}' of ${this.file} was written twice`);
    this.written.add(name);
    await writeAt(handle, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), place.offset);
  }

  /** Finishes the file: every declared tensor must have been written. */
  async close(): Promise<void> {
    const missing = this.layout.order.filter((name) => !this.written.has(name));
    if (missing.length > 0) {
      await this.abort();
      throw new MarlinError('BAD_ARGUMENT', `${this.file}: ${missing.length} declared tensor(s) were never written ('${missing[0]}', ...)`);
    }
    const handle = this.handle;
    if (!handle) throw new MarlinError('DISPOSED', `${this.file} was closed`);
    this.handle = undefined;
    await handle.close();
    await fs.promises.rename(this.temporary, this.file);
  }

  /** Removes the temporary file. Safe to call twice, and after close(). */
  async abort(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (!handle) return;
    await handle.close().catch(() => undefined);
    await fs.promises.rm(this.temporary, { force: true });
  }
}
