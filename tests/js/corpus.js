// Builds the tokenizer test corpus: the hand-written documents of tests/fixtures/tokenizer_corpus.txt
// (separated by lines "%%"; they hold raw invalid UTF-8 bytes on purpose) plus documents generated
// from a fixed-seed PRNG that glue scripts, emoji, marks, digits, whitespace and special tokens in
// random order. Written as records: u32 count, then per document u32 byte length + bytes.
'use strict';
const fs = require('fs');

function rng(seed) { // mulberry32: small, deterministic
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RANGES = [ // [lo, hi] code point ranges to draw from
  [0x61, 0x7a], [0x41, 0x5a], [0x30, 0x39], [0x21, 0x2f], [0xc0, 0x17f], [0x300, 0x36f], [0x391, 0x3c9],
  [0x410, 0x44f], [0x5d0, 0x5ea], [0x5b0, 0x5c7], [0x620, 0x64a], [0x64b, 0x652], [0x660, 0x669], [0x905, 0x939],
  [0x93c, 0x94d], [0x966, 0x96f], [0xe01, 0xe3a], [0xe40, 0xe4e], [0x1100, 0x1112], [0x1161, 0x1175],
  [0x11a8, 0x11c2], [0x2000, 0x206f], [0x2160, 0x217f], [0x3040, 0x30ff], [0x4e00, 0x4fff], [0xac00, 0xad00],
  [0xff01, 0xff5e], [0x1f300, 0x1f64f], [0x1f3fb, 0x1f3ff], [0x1f900, 0x1f9ff], [0x1d400, 0x1d4ff],
];
const PIECES = [' ', '  ', '\t', '\n', '\r\n', '\n\n', ' \n', '\u00a0', '\u3000', '\u200d', '\ufe0f', "'s", "'LL",
  "'Re", "'ve", "'D", '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<think>', '</think>', '<|im_start|',
  '<|endoftext|>x', '<tool_call>', 'the', ' the', 'The', ' of', 'ing', 'tion', '12345', '3.14', 'https://a.b/c?d=e',
  'café', 'cafe\u0301', '\u0301', '👍🏽', '👨‍👩‍👧', '🇫🇷', '中文', 'Ёж', 'नमस्ते', 'สวัสดี', 'مرحبا', 'שלום', '...', '!!', '\r', '\x0b'];

function genDoc(r) {
  const n = 1 + Math.floor(r() * 60);
  let s = '';
  for (let i = 0; i < n; i++) {
    if (r() < 0.5) { s += PIECES[Math.floor(r() * PIECES.length)]; continue; }
    const [lo, hi] = RANGES[Math.floor(r() * RANGES.length)];
    const len = 1 + Math.floor(r() * 8);
    for (let k = 0; k < len; k++) s += String.fromCodePoint(lo + Math.floor(r() * (hi - lo + 1)));
  }
  return Buffer.from(s, 'utf8');
}

function buildCorpus(fixture, nGenerated, seed) {
  const raw = fs.readFileSync(fixture);
  const docs = [];
  let start = 0;
  const sep = Buffer.from('\n%%\n');
  for (;;) {
    const i = raw.indexOf(sep, start);
    docs.push(raw.subarray(start, i < 0 ? raw.length : i));
    if (i < 0) break;
    start = i + sep.length;
  }
  docs.push(raw); // the whole file as one document too
  const r = rng(seed);
  for (let i = 0; i < nGenerated; i++) docs.push(genDoc(r));
  return docs;
}

function writeRecords(path, docs) {
  const parts = [];
  const head = Buffer.alloc(4); head.writeUInt32LE(docs.length); parts.push(head);
  for (const d of docs) { const l = Buffer.alloc(4); l.writeUInt32LE(d.length); parts.push(l, d); }
  fs.writeFileSync(path, Buffer.concat(parts));
}

function readRecords(path) {
  const b = fs.readFileSync(path);
  const n = b.readUInt32LE(0);
  const docs = [];
  let o = 4;
  for (let i = 0; i < n; i++) { const l = b.readUInt32LE(o); o += 4; docs.push(b.subarray(o, o + l)); o += l; }
  return docs;
}

module.exports = { buildCorpus, writeRecords, readRecords, rng };

if (require.main === module) {
  const [fixture, out, n, seed] = process.argv.slice(2);
  writeRecords(out, buildCorpus(fixture, Number(n || 2000), Number(seed || 1234)));
}
