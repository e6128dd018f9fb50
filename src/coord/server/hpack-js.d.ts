// The part of hpack.js (CommonJS, untyped) the authority shim uses. Header names and values are
// latin1 strings: one char per byte, so they round-trip any octets exactly.
declare module 'hpack.js' {
  export interface HeaderField {
    name: string;
    value: string;
    neverIndex?: boolean;
    huffman?: boolean;
    /** false: a literal without indexing (the encoder's dynamic table is left alone). */
    incremental?: boolean;
  }
  export interface TableOptions {
    table: { maxSize: number };
  }
  export interface Decompressor {
    write(block: Buffer): boolean;
    /** Decodes what was written; without a callback a malformed block throws (as an 'error' event). */
    execute(): void;
    read(): HeaderField | null;
  }
  export interface Compressor {
    write(headers: HeaderField[]): boolean;
    read(): Buffer | null;
  }
  const hpack: {
    decompressor: { create(options: TableOptions): Decompressor };
    compressor: { create(options: TableOptions): Compressor };
  };
  export default hpack;
}
