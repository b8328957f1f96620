"""PyTorch reference for SASRec (tests/test_sasrec.c): a pmixer-style module (SASRec.pytorch,
norm_first) written with torch.nn layers -- nn.Embedding with padding_idx 0 for items and
positions, nn.MultiheadAttention, Conv1d(kernel 1) point-wise FFN, LayerNorm eps 1e-8 -- on
left-padded [B, T] batches, positions 1..T counted from the left of the padded window (0 at
padding) as pmixer does. As pmixer and src/rec/seqenc.h's default block: the FFN's residual is
its LayerNorm'd input (PointWiseFeedForward adds its own input), padded positions are zeroed
after the embedding and each block (timeline mask), and padding keys are NOT masked (only the
future is), so real tokens also attend to the padding rows (C: the "sink" key). Dropout 0, so
the C side needs no mask parity. LayerNorm and in_proj biases are randomised so the padding
keys' k, v are not zero.

Initialised as pmixer (xavier_normal_ on every parameter it accepts, padding rows zeroed); the
C test copies these parameters. Writes inputs, loss and every gradient for the bce and softmax
losses, and the scores of all items after each sequence (the scorer path)."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nn_refio import save  # noqa: E402

OUT = sys.argv[1]
torch.set_num_threads(1)


class FFN(torch.nn.Module):
    def __init__(self, C):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(C, C, kernel_size=1)
        self.conv2 = torch.nn.Conv1d(C, C, kernel_size=1)

    def forward(self, x):
        return self.conv2(F.relu(self.conv1(x.transpose(-1, -2)))).transpose(-1, -2)


class SASRec(torch.nn.Module):
    def __init__(self, n_items, C, H, blocks, maxlen):
        super().__init__()
        self.item_emb = torch.nn.Embedding(n_items + 1, C, padding_idx=0)
        self.pos_emb = torch.nn.Embedding(maxlen + 1, C, padding_idx=0)
        self.attn_ln = torch.nn.ModuleList([torch.nn.LayerNorm(C, eps=1e-8) for _ in range(blocks)])
        self.attn = torch.nn.ModuleList([torch.nn.MultiheadAttention(C, H) for _ in range(blocks)])
        self.ffn_ln = torch.nn.ModuleList([torch.nn.LayerNorm(C, eps=1e-8) for _ in range(blocks)])
        self.ffn = torch.nn.ModuleList([FFN(C) for _ in range(blocks)])
        self.last_ln = torch.nn.LayerNorm(C, eps=1e-8)
        self.H = H

    def feats(self, seqs):
        B, T = seqs.shape
        x = self.item_emb(seqs) * self.item_emb.embedding_dim ** 0.5
        poss = torch.arange(1, T + 1).repeat(B, 1) * (seqs != 0)
        x = x + self.pos_emb(poss)
        keep = (seqs != 0).unsqueeze(-1)
        x = x * keep
        mask = ~torch.tril(torch.ones(T, T, dtype=torch.bool))
        for i in range(len(self.attn)):
            q = self.attn_ln[i](x).transpose(0, 1)
            a, _ = self.attn[i](q, q, q, attn_mask=mask, need_weights=False)
            x = x + a.transpose(0, 1)
            h = self.ffn_ln[i](x)
            x = (h + self.ffn[i](h)) * keep
        return self.last_ln(x)


def pmixer_init(m):
    for _, p in m.named_parameters():
        try:
            torch.nn.init.xavier_normal_(p.data)
        except ValueError:
            pass
    m.pos_emb.weight.data[0] = 0
    m.item_emb.weight.data[0] = 0


def perturb(m):
    with torch.no_grad():
        for ln in list(m.attn_ln) + list(m.ffn_ln) + [m.last_ln]:
            ln.bias.normal_(0, 0.3)
            ln.weight.normal_(1, 0.1)
        for a in m.attn:
            a.in_proj_bias.normal_(0, 0.3)


def c_params(m, C):
    """Parameters under the C names (rec/seqenc.c, nn/block.h)."""
    P = {"item_emb.weight": m.item_emb.weight, "pos_emb.weight": m.pos_emb.weight}
    for i in range(len(m.attn)):
        pre = "layers.%d." % i
        P[pre + "input_layernorm.weight"] = m.attn_ln[i].weight
        P[pre + "input_layernorm.bias"] = m.attn_ln[i].bias
        for j, n in enumerate("qkv"):
            P[pre + "self_attn.%s_proj.weight" % n] = m.attn[i].in_proj_weight[j * C:(j + 1) * C]
            P[pre + "self_attn.%s_proj.bias" % n] = m.attn[i].in_proj_bias[j * C:(j + 1) * C]
        P[pre + "self_attn.o_proj.weight"] = m.attn[i].out_proj.weight
        P[pre + "self_attn.o_proj.bias"] = m.attn[i].out_proj.bias
        P[pre + "post_attention_layernorm.weight"] = m.ffn_ln[i].weight
        P[pre + "post_attention_layernorm.bias"] = m.ffn_ln[i].bias
        P[pre + "mlp.up_proj.weight"] = m.ffn[i].conv1.weight[:, :, 0]
        P[pre + "mlp.up_proj.bias"] = m.ffn[i].conv1.bias
        P[pre + "mlp.down_proj.weight"] = m.ffn[i].conv2.weight[:, :, 0]
        P[pre + "mlp.down_proj.bias"] = m.ffn[i].conv2.bias
    P["last_layernorm.weight"] = m.last_ln.weight
    P["last_layernorm.bias"] = m.last_ln.bias
    return P


def grads(m, C):
    """Gradients under the C names (slices of in_proj's gradient)."""
    G = {}
    for k, v in c_params(m, C).items():
        G[k] = None
    G["item_emb.weight"] = m.item_emb.weight.grad
    G["pos_emb.weight"] = m.pos_emb.weight.grad
    for i in range(len(m.attn)):
        pre = "layers.%d." % i
        G[pre + "input_layernorm.weight"] = m.attn_ln[i].weight.grad
        G[pre + "input_layernorm.bias"] = m.attn_ln[i].bias.grad
        for j, n in enumerate("qkv"):
            G[pre + "self_attn.%s_proj.weight" % n] = m.attn[i].in_proj_weight.grad[j * C:(j + 1) * C]
            G[pre + "self_attn.%s_proj.bias" % n] = m.attn[i].in_proj_bias.grad[j * C:(j + 1) * C]
        G[pre + "self_attn.o_proj.weight"] = m.attn[i].out_proj.weight.grad
        G[pre + "self_attn.o_proj.bias"] = m.attn[i].out_proj.bias.grad
        G[pre + "post_attention_layernorm.weight"] = m.ffn_ln[i].weight.grad
        G[pre + "post_attention_layernorm.bias"] = m.ffn_ln[i].bias.grad
        G[pre + "mlp.up_proj.weight"] = m.ffn[i].conv1.weight.grad[:, :, 0]
        G[pre + "mlp.up_proj.bias"] = m.ffn[i].conv1.bias.grad
        G[pre + "mlp.down_proj.weight"] = m.ffn[i].conv2.weight.grad[:, :, 0]
        G[pre + "mlp.down_proj.bias"] = m.ffn[i].conv2.bias.grad
    G["last_layernorm.weight"] = m.last_ln.weight.grad
    G["last_layernorm.bias"] = m.last_ln.bias.grad
    return G


def case(name, loss_kind, n_items, C, H, blocks, T, lens, seed):
    torch.manual_seed(seed)
    m = SASRec(n_items, C, H, blocks, T)
    pmixer_init(m)
    perturb(m)
    g = torch.Generator().manual_seed(seed + 1)
    B = len(lens)
    seqs = torch.zeros(B, T, dtype=torch.long)
    pos = torch.zeros(B, T, dtype=torch.long)
    neg = torch.zeros(B, T, dtype=torch.long)
    for b, L in enumerate(lens):
        seqs[b, T - L:] = torch.randint(1, n_items + 1, (L,), generator=g)
        pos[b, T - L:] = torch.randint(1, n_items + 1, (L,), generator=g)
        neg[b, T - L:] = torch.randint(1, n_items + 1, (L,), generator=g)
    rec = {"seqs": seqs.int(), "pos": pos.int(), "neg": neg.int()}
    for k, v in c_params(m, C).items():
        rec["param." + k] = v.detach().clone()
    feats = m.feats(seqs)
    idx = pos != 0
    E = m.item_emb.weight
    if loss_kind == "bce":
        pl = (feats * E[pos]).sum(-1)[idx]
        nl = (feats * E[neg]).sum(-1)[idx]
        loss = F.binary_cross_entropy_with_logits(pl, torch.ones_like(pl)) + \
            F.binary_cross_entropy_with_logits(nl, torch.zeros_like(nl))
    else:
        logits = feats[idx] @ E[1:].t()
        loss = F.cross_entropy(logits, pos[idx] - 1)
    loss.backward()
    rec["loss"] = loss.detach().reshape(1)
    for k, v in grads(m, C).items():
        rec["grad." + k] = v.detach().clone()
    with torch.no_grad():
        rec["scores"] = m.feats(seqs)[:, -1] @ E[1:].t()
    save(os.path.join(OUT, "sasrec_%s.bin" % name), rec)


case("bce", "bce", n_items=30, C=16, H=2, blocks=2, T=8, lens=[8, 3, 1, 5, 8, 2], seed=5)
case("softmax", "softmax", n_items=37, C=12, H=1, blocks=2, T=6, lens=[6, 4, 1], seed=6)
