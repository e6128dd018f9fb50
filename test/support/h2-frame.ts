// Test clients' own HTTP/2 framing (RFC 9113 section 4.1), kept apart from the server code under
// test: `[length u24][type u8][flags u8][stream u32][payload]`.
export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}
