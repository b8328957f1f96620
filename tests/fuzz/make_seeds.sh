#!/usr/bin/env bash
# Rewrites the committed seed corpus tests/fuzz/corpus/NAME/ from the test fixtures, a few
# hand-written files and a tiny work directory made by ./semid (run `make` first). Needs
# python3 with numpy (Debian's python3-numpy). The seeds are small valid inputs; the fuzzer's
# own corpus growth stays in build-fuzz/ and is not committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
C=tests/fuzz/corpus F=tests/fixtures
rm -rf "$C"; mkdir -p "$C"
for n in amazon generic movielens sasrec safetensors npy tokenizer qwen3_config items_jsonl sequences split sids_bin sids_tsv sid_vocab gguf report; do
  mkdir -p "$C/$n"
done
ff=$'\f'
# loaders: the files a harness cuts at form feeds
for i in reviews.jsonl bench_hist.csv bench_plain.csv bench_nohdr.csv; do
  { cat $F/amazon/meta.jsonl; printf '\f'; cat $F/amazon/$i; } > "$C/amazon/${i%.*}"
done
for i in inter.csv inter.jsonl; do
  { cat $F/generic/items.jsonl; printf '\f'; cat $F/generic/$i; } > "$C/generic/${i/./_}"
done
{ printf 0; cat $F/movielens/ml-100k-mini/u.data; printf '\f'; cat $F/movielens/ml-100k-mini/u.item; } > "$C/movielens/ml-100k"
{ printf 1; cat $F/movielens/ml-1m-mini/ratings.dat; printf '\f'; cat $F/movielens/ml-1m-mini/movies.dat; printf '\f'
  printf '1::1::funny::978300760\n2::3::dark::978302109\n'; } > "$C/movielens/ml-1m"
{ printf 2; cat $F/movielens/ml-latest-mini/ratings.csv; printf '\f'; cat $F/movielens/ml-latest-mini/movies.csv; printf '\f'
  cat $F/movielens/ml-latest-mini/tags.csv; } > "$C/movielens/ml-latest"
cp $F/sasrec/data.txt "$C/sasrec/data"
printf '1 1\n1 2\n2 2\n2 3\n2 1\n3 3\n' > "$C/sasrec/small"
# safetensors and npy
$PY - "$C" <<'PYEOF'
import json, struct, sys, numpy as np
C = sys.argv[1]
def st(path, tensors, meta=None):
    hdr, data, off = {}, b"", 0
    for name, dtype, shape, raw in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        data += raw; off += len(raw)
    if meta is not None: hdr["__metadata__"] = meta
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
f32 = np.arange(6, dtype="<f4")
st(f"{C}/safetensors/f32", [("w", "F32", [2, 3], f32.tobytes())], {"format": "pt"})
st(f"{C}/safetensors/mixed", [("a", "I64", [2], np.array([1, -2], "<i8").tobytes()),
                               ("b", "BF16", [2, 2], (np.arange(4, dtype="<f4").view("<u4") >> 16).astype("<u2").tobytes()),
                               ("c", "F16", [3], np.array([1, 2, 3], "<f2").tobytes()),
                               ("d", "U8", [1, 1], b"\x07"), ("e", "BOOL", [2], b"\x00\x01"),
                               ("s", "F32", [], np.array(1.5, "<f4").tobytes())])
st(f"{C}/safetensors/empty", [])
st(f"{C}/safetensors/zero_dim", [("z", "F32", [0, 4], b""), ("x", "F64", [1], np.array([2.0], "<f8").tobytes())])
for name, a in {"f4": np.arange(6, dtype="<f4").reshape(2, 3), "f2": np.ones(3, "<f2"), "f8": np.zeros((1, 2)),
                "i8": np.arange(4, dtype="<i8"), "u1": np.arange(3, dtype="u1"), "b1": np.array([True, False]),
                "be": np.arange(4, dtype=">f4").reshape(2, 2), "i2": np.array([[-1]], "<i2"),
                "scalar": np.array(3.0, "<f4"), "empty": np.zeros((0, 5), "<f4")}.items():
    np.save(f"{C}/npy/{name}.npy", a)
# format 2.0 header
import io
b = io.BytesIO(); np.lib.format.write_array(b, np.arange(3, dtype="<u4"), version=(2, 0))
open(f"{C}/npy/v2.npy", "wb").write(b.getvalue())
# tokenizer.json: byte-level BPE over a few tokens, with added tokens (special and not)
vocab = {"a": 0, "b": 1, "c": 2, "\u0120": 3, "ab": 4, "\u0120a": 5, "abc": 6, "h": 7, "e": 8, "l": 9, "o": 10,
         "he": 11, "ll": 12, "hell": 13, "hello": 14, "1": 15, "2": 16, "\u00c3": 17, "\u00bc": 18}
tok = {"version": "1.0", "truncation": None, "padding": None,
       "added_tokens": [{"id": 19, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False,
                         "normalized": False, "special": True},
                        {"id": 20, "content": "<think>", "single_word": False, "lstrip": False, "rstrip": False,
                         "normalized": False, "special": False},
                        {"id": 21, "content": "\u00fcber", "single_word": True, "lstrip": True, "rstrip": True,
                         "normalized": True, "special": False}],
       "normalizer": {"type": "NFC"},
       "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
           {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
            "behavior": "Isolated", "invert": False},
           {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
       "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
       "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
       "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                 "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                 "vocab": vocab, "merges": [["a", "b"], ["\u0120", "a"], ["ab", "c"], ["h", "e"], ["l", "l"],
                                            ["he", "ll"], ["hell", "o"]]}}
open(f"{C}/tokenizer/pairs.json", "w").write(json.dumps(tok, indent=2, ensure_ascii=False))
tok["model"]["merges"] = [" ".join(m) for m in tok["model"]["merges"]]
open(f"{C}/tokenizer/strings.json", "w").write(json.dumps(tok, ensure_ascii=True))
cfg = {"architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
       "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024,
       "initializer_range": 0.02, "intermediate_size": 3072, "max_position_embeddings": 40960,
       "max_window_layers": 28, "model_type": "qwen3", "num_attention_heads": 16, "num_hidden_layers": 28,
       "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 1000000,
       "sliding_window": None, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
       "transformers_version": "4.51.0", "use_cache": True, "use_sliding_window": False, "vocab_size": 151936}
open(f"{C}/qwen3_config/qwen3-0.6b.json", "w").write(json.dumps(cfg, indent=2))
small = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "intermediate_size": 32, "vocab_size": 64, "eos_token_id": [1, 2], "bos_token_id": None,
         "tie_word_embeddings": False, "torch_dtype": "float32"}
open(f"{C}/qwen3_config/tiny.json", "w").write(json.dumps(small))
PYEOF
# GGUF: tiny qwen3 models and every value type, from an independent numpy writer
$PY tests/fuzz/make_gguf_seeds.py "$C/gguf"
# work-directory files from a tiny work directory
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
./semid prep --format generic --items $F/generic/items.jsonl --interactions $F/generic/inter.csv -o "$W/w" --quiet
./semid prep --format sasrec --interactions "$C/sasrec/small" --split time -o "$W/t" --quiet
./semid prep --format sasrec --interactions "$C/sasrec/small" --min-eval-len 3 -o "$W/m" --quiet  # split.bin v2
./semid prep --format sasrec --interactions "$C/sasrec/small" --cold-items 0.3 -o "$W/c" --quiet  # split.bin v3
$PY -c "import numpy as np; np.save('$W/emb.npy', np.random.RandomState(0).randn(5, 4).astype('<f4'))"
./semid embed "$W/w" --npy "$W/emb.npy" --quiet
./semid ids "$W/w" --levels 2 --codes 2 --max-collision extend-level --quiet >/dev/null
cp "$W/w/items.jsonl" "$C/items_jsonl/generic"; cp "$W/t/items.jsonl" "$C/items_jsonl/sasrec"
cp "$W/w/sequences.bin" "$C/sequences/generic"; cp "$W/t/sequences.bin" "$C/sequences/sasrec"
cp "$W/w/split.bin" "$C/split/loo"; cp "$W/t/split.bin" "$C/split/time"; cp "$W/m/split.bin" "$C/split/min_eval_len"
cp "$W/c/split.bin" "$C/split/cold"
cp "$W/w/sids.bin" "$C/sids_bin/generic"
cp "$W/w/sid_vocab.json" "$C/sid_vocab/generic"
for m in 0 1 2 3 8; do { printf "\\x0$m"; cat "$W/w/sids.tsv"; } > "$C/sids_tsv/mode$m"; done
{ printf '\x01'; printf 'id\text_id\tc0\tc1\tsid\n0\ta\t0\t0\t<|sid_start|><|sid_0|><|sid_4|><|sid_end|>\n1\tb\t1\t0\t<|sid_start|><|sid_1|><|sid_4|><|sid_end|>\n2\tc\t1\t1\t<|sid_start|><|sid_1|><|sid_5|><|sid_end|>\n'; } > "$C/sids_tsv/catalogue"
# augment: assistant answers (good, nulls, fenced after a think block, out of schema)
mkdir -p "$C/augment_answer"
printf '%s' '{"product_type":"game","platform":"PC","genre":["Action","RPG"],"franchise":"Stub Saga","multiplayer":"online"}' > "$C/augment_answer/good"
printf '%s' '{"product_type":"console","platform":null,"genre":[],"franchise":null,"multiplayer":null}' > "$C/augment_answer/nulls"
printf '<think>\nhm\n</think>\n```json\n{"product_type":"accessory","platform":"xbox 360","genre":["racing"],"franchise":"Forza","multiplayer":"no"}\n```' > "$C/augment_answer/fenced"
printf '%s' '{"product_type":"game","platform":"Dreamcast","genre":"Action","multiplayer":"yes"}' > "$C/augment_answer/bad"
# the report: a tiny WORK's ids_report.json, sids.tsv, eval files and model logs, cut at form feeds
./semid eval "$W/w" --quiet >/dev/null  # the baselines (the fixture's users are too short to train SASRec)
printf '{"model_type": "sasrec", "dim": 8, "blocks": 1, "epochs": 2, "best_epoch": 2, "epochs_run": 2, "valid_ndcg@10": 0.5, "valid_hit@10": 1,\n "test": {"full": {"users": 3, "hit@10": 1, "ndcg@10": 0.4, "mrr": 0.3}}}\n' > "$W/sasrec.json"
printf 'epoch,loss,valid_ndcg@10,valid_hit@10\n1,1.4,0.3,0.6\n2,1.3,0.5,1\n' > "$W/sasrec.csv"
printf '{"seed": 42, "valid_items": {"users": 2, "constrained": 1, "unconstrained": 0.5, "sampling": "t"},\n "steering": [{"model": "llm", "prompt": "request", "users": 2, "top_k": 10, "platform": 0.5, "genre": null, "both": 0.25},\n  {"model": "popularity", "prompt": "request", "users": 2, "top_k": 10, "platform": 0.1, "genre": null, "both": 0}],\n "explanations": {"explained": 2, "claims": 3, "claims_true": 1}}\n' > "$W/llm.json"
printf '{"train": {"steps": 2, "first_loss": 8.1, "last_loss": 7.5, "best_valid_loss": 7.9}, "size": "tiny", "params": 100}\n' > "$W/ft.json"
printf 'stage,step,lr,loss,valid_loss,tokens_per_s\nstage1,1,0.001,8.1,,10\nstage1,2,0.001,7.9,8.0,10\nstage2,1,0.001,7.5,7.9,10\n' > "$W/lm.csv"
{ cat "$W/w/ids_report.json"; printf '\f'; cat "$W/w/sids.tsv"; printf '\f'; cat "$W/w/eval.json"; printf '\f'
  cat "$W/llm.json"; printf '\f'; cat "$W/sasrec.json"; printf '\f'; cat "$W/sasrec.csv"
  printf '\f'; cat "$W/ft.json"; printf '\f'; cat "$W/lm.csv"; } > "$C/report/work"
{ printf '\f\f'; cat "$W/w/eval.json"; } > "$C/report/eval_only"
du -sh "$C"
