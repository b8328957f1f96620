// Reference encoder: Hugging Face `tokenizers` (Rust, via its Node binding).
//   node encode.js TOKENIZER.json CORPUS.bin OUT.bin
// Each corpus record is decoded from bytes with the WHATWG decoder (invalid sequences become
// U+FFFD, the same repair the C tokenizer applies) and encoded with addSpecialTokens = true.
// OUT.bin: u32 count, then per document u32 n + n u32 ids.
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');
const { readRecords } = require('./corpus.js');

async function main() {
  const [tokPath, corpusPath, outPath] = process.argv.slice(2);
  const tok = Tokenizer.fromFile(tokPath);
  const dec = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  const texts = readRecords(corpusPath).map((d) => dec.decode(d));
  const encs = await tok.encodeBatch(texts, { addSpecialTokens: true });
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
main().catch((e) => { console.error(e); process.exit(1); });
