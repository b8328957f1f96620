// Reference timings for bench/bench_tokenizer.c: Hugging Face tokenizers (Rust) from Node.
//   [RAYON_NUM_THREADS=k] node bench_ref.js TOKENIZER.json TEXT.txt [IDS_OUT.bin]
// Encodes every line of TEXT (one document per line) with encodeBatch and prints
// {"load_s": .., "encode_s": .., "bytes": .., "docs": ..} on stdout; IDS_OUT gets the ids in
// encode.js's format so the benchmark can check that they are identical.
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

async function main() {
  const [tokPath, textPath, outPath] = process.argv.slice(2);
  let t0 = process.hrtime.bigint();
  const tok = Tokenizer.fromFile(tokPath);
  const loadS = Number(process.hrtime.bigint() - t0) / 1e9;
  const raw = fs.readFileSync(textPath);
  const lines = raw.toString('utf8').split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  await tok.encodeBatch(lines.slice(0, 50), { addSpecialTokens: true }); // warm-up
  t0 = process.hrtime.bigint();
  const encs = await tok.encodeBatch(lines, { addSpecialTokens: true });
  const encS = Number(process.hrtime.bigint() - t0) / 1e9;
  if (outPath) {
    const parts = [];
    const head = Buffer.alloc(4); head.writeUInt32LE(encs.length); parts.push(head);
    for (const e of encs) {
      const ids = e.getIds();
      const b = Buffer.alloc(4 + 4 * ids.length);
      b.writeUInt32LE(ids.length, 0);
      ids.forEach((id, k) => b.writeUInt32LE(id, 4 + 4 * k));
      parts.push(b);
    }
    fs.writeFileSync(outPath, Buffer.concat(parts));
  }
  console.log(JSON.stringify({ load_s: loadS, encode_s: encS, bytes: raw.length, docs: lines.length }));
}
main().catch((e) => { console.error(e); process.exit(1); });
