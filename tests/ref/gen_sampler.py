"""Reference for src/lm/sampler.c: the logits processors of transformers' generate() written out in
torch exactly as transformers implements them (RepetitionPenaltyLogitsProcessor ->
TemperatureLogitsWarper -> TopKLogitsWarper -> TopPLogitsWarper -> MinPLogitsWarper, with
min_tokens_to_keep = 1), applied to float32 logits; the final distribution is the softmax of what
is left. Writes OUTDIR/gen_sampler.bin (nn_refio format): per case i, case{i}.logits [V],
case{i}.context [n], case{i}.cfg [temperature, top_k, top_p, min_p, penalty], case{i}.probs [V].

The top-p and min-p cuts are decided in float64 here, and a case is only written when no token
sits within 1e-9 of the top-p cut (in cumulative probability, float64 sums on both sides) or
1e-6 of the min-p cut (probability ratio), so float32 rounding cannot move a token across it."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nn_refio  # noqa: E402


def hf_process(logits, context, temperature, top_k, top_p, min_p, penalty):
    scores = logits.clone()[None, :]
    ids = torch.tensor(context, dtype=torch.long)[None, :]
    margin = float("inf")  # distance of the closest token to a cut, in units of the cut's scale
    if penalty != 1.0 and ids.numel():
        score = torch.gather(scores, 1, ids)
        score = torch.where(score < 0, score * penalty, score / penalty)
        scores.scatter_(1, ids, score)
    scores = scores / temperature
    if top_k > 0:
        k = min(top_k, scores.size(-1))
        remove = scores < torch.topk(scores, k)[0][..., -1, None]
        scores = scores.masked_fill(remove, -float("inf"))
    if top_p < 1.0:
        sorted_logits, sorted_idx = torch.sort(scores.double(), descending=False)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        margin = min(margin, float((cum - (1 - top_p)).abs().min()) * 1e3)
        remove_sorted = cum <= (1 - top_p)
        remove_sorted[..., -1:] = 0
        remove = remove_sorted.scatter(1, sorted_idx, remove_sorted)
        scores = scores.masked_fill(remove, -float("inf"))
    if min_p > 0.0:
        probs = torch.softmax(scores.double(), dim=-1)
        top = probs.max(dim=-1, keepdim=True)[0]
        ratio = probs / top
        margin = min(margin, float((ratio[probs > 0] - min_p).abs().min()))
        remove = probs < min_p * top
        remove[0, int(torch.argmax(probs))] = False
        scores = scores.masked_fill(remove, -float("inf"))
    return torch.softmax(scores.double(), dim=-1)[0].float(), margin


CASES = [
    # V, scale, context length, temperature, top_k, top_p, min_p, penalty
    (50, 2.0, 12, 1.0, 0, 1.0, 0.0, 1.0),
    (50, 2.0, 12, 0.7, 0, 1.0, 0.0, 1.3),
    (50, 2.0, 20, 1.0, 5, 1.0, 0.0, 1.2),
    (50, 2.0, 8, 1.3, 0, 0.8, 0.0, 1.0),
    (50, 2.0, 8, 1.0, 0, 1.0, 0.1, 1.0),
    (200, 3.0, 40, 0.8, 20, 0.9, 0.05, 1.1),
    (151936, 3.0, 100, 1.0, 50, 1.0, 0.0, 1.3),
    (151936, 1.5, 100, 0.9, 0, 0.95, 0.0, 1.0),
    (151936, 3.0, 300, 0.6, 0, 0.9, 0.02, 1.5),
    (151936, 3.0, 300, 1.0, 1000, 0.7, 0.0, 1.05),
]


def main(out):
    g = torch.Generator().manual_seed(1234)
    tensors = {}
    for i, (V, scale, nctx, t, k, p, mp, pen) in enumerate(CASES):
        for _ in range(100):
            logits = (torch.randn(V, generator=g) * scale).float()
            context = torch.randint(0, V, (nctx,), generator=g)
            context[nctx // 2:] = context[: nctx - nctx // 2]  # repeated tokens: penalised once
            probs, margin = hf_process(logits, context.tolist(), t, k, p, mp, pen)
            if margin > 1e-6:
                break
        else:
            raise SystemExit("gen_sampler: no case without a near-tie at a cut")
        tensors[f"case{i}.logits"] = logits
        tensors[f"case{i}.context"] = context.int()
        tensors[f"case{i}.cfg"] = torch.tensor([t, k, p, mp, pen], dtype=torch.float32)
        tensors[f"case{i}.probs"] = probs
    tensors["n_cases"] = torch.tensor([len(CASES)], dtype=torch.int32)
    nn_refio.save(os.path.join(out, "gen_sampler.bin"), tensors)


if __name__ == "__main__":
    main(sys.argv[1])
