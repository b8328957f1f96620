// Reads a GGUF file with Hugging Face's parser (@huggingface/gguf) and writes what it found as
// JSON, for semid's C tests (tests/test_gguf.c) to compare with the model it exported:
//   node gguf_read.js FILE.gguf OUT.json
// {"parser": version, "version", "little_endian", "tensor_data_offset",
//  "kv": {key: {"type": GGUFValueType, "sub_type"?: element type, "value": scalar or array}},
//  "tensors": [{"name", "shape": ne (fastest first), "dtype": GGMLQuantizationType, "offset"}]}
// 64-bit integers are written as numbers (the values here stay far below 2^53).
const fs = require("fs");
const path = require("path");
const { gguf } = require("@huggingface/gguf");

const num = (v) => (typeof v === "bigint" ? Number(v) : v);
const plain = (v) => (Array.isArray(v) ? v.map(num) : num(v));

async function main() {
  const [file, out] = process.argv.slice(2);
  if (!file || !out) {
    console.error("usage: node gguf_read.js FILE.gguf OUT.json");
    process.exit(2);
  }
  const r = await gguf(path.resolve(file), { allowLocalFile: true, typedMetadata: true });
  const kv = {};
  for (const [key, e] of Object.entries(r.typedMetadata)) {
    const o = { type: e.type, value: plain(e.value) };
    if (e.subType !== undefined) o.sub_type = e.subType;
    kv[key] = o;
  }
  const tensors = r.tensorInfos.map((t) => ({
    name: t.name,
    shape: t.shape.map(num),
    dtype: t.dtype,
    offset: num(t.offset),
  }));
  const pkg = JSON.parse(fs.readFileSync(require.resolve("@huggingface/gguf").replace(/dist[\\/].*$/, "package.json")));
  fs.writeFileSync(out, JSON.stringify({
    parser: pkg.version,
    version: num(r.metadata.version),
    little_endian: r.littleEndian,
    tensor_data_offset: num(r.tensorDataOffset),
    kv,
    tensors,
  }));
}
main().catch((e) => {
  console.error(`gguf_read.js: ${e.message}`);
  process.exit(1);
});
