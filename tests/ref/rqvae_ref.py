"""PyTorch reference for the RQ-VAE of src/ids/rqvae.c (tests/test_rqvae.c), written after
semantic-ids-llm's train_rqvae.py: MLP encoder with SiLU, residual quantisation with nearest codes
by Euclidean distance, residual <- residual - quantized.detach(), rotation trick or
straight-through, loss = recon + sum_l [codebook + beta * commitment], mirrored decoder.

Small dimensions (D = 24, hidden configurable) so the reference stays quick. Computed in float64
from float32 inputs, so the C tolerances measure the C code's float32 error only. Codebooks are
drawn near the actual residuals so every level assigns several items to one code; cases whose
nearest-code margins are tiny (a float32 tie could flip) are redrawn.

Per case writes: cfg (ints: dim, n_hidden, hidden..., latent, levels, codes, rotation, sum),
beta, x, every parameter under its C name, expected codes [B, levels], recon, quant [levels],
total, and d_<name> for every trainable parameter."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nn_refio import save  # noqa: E402

OUT = sys.argv[1]


def l2norm(t, eps=1e-6):
    return F.normalize(t, p=2, dim=-1, eps=eps)


def safe_div(num, den, eps=1e-6):
    return num / den.clamp(min=eps)


def rotate_to(src, tgt):
    """Rotation trick as the original: equals tgt in value, gradient lam R^T g into src."""
    norm_src = src.norm(dim=-1, keepdim=True)
    norm_tgt = tgt.norm(dim=-1, keepdim=True)
    u, q = safe_div(src, norm_src), safe_div(tgt, norm_tgt)
    w = l2norm(u + q).detach()
    e = src.unsqueeze(1)
    rot = e - 2 * (e @ w.unsqueeze(-1) @ w.unsqueeze(-2)) + 2 * (e @ u.unsqueeze(-1).detach() @ q.unsqueeze(-2).detach())
    return rot.squeeze(1) * safe_div(norm_tgt, norm_src).detach()


def mlp(dims):
    layers = []
    for i in range(len(dims) - 2):
        layers += [torch.nn.Linear(dims[i], dims[i + 1]), torch.nn.SiLU()]
    layers.append(torch.nn.Linear(dims[-2], dims[-1]))
    return torch.nn.Sequential(*layers).double()


def err(a, b, reduction):
    # sum: summed over the vector, mean over items; mean: F.mse_loss
    if reduction == "sum":
        return ((a - b) ** 2).sum() / a.shape[0]
    return F.mse_loss(a, b)


def case(name, seed, D, hidden, latent, levels, K, B, rotation, reduction, standardize, beta=0.25):
    for attempt in range(50):
        g = torch.Generator().manual_seed(seed * 100 + attempt)
        torch.manual_seed(seed * 100 + attempt)
        enc = mlp([D] + hidden + [latent])
        dec = mlp([latent] + hidden[::-1] + [D])
        x = (torch.randn(B, D, generator=g) * 1.5 + 0.3).float()
        if standardize:
            mean = (torch.randn(D, generator=g) * 0.5).float()
            std = (torch.rand(D, generator=g) + 0.5).float()
        else:
            mean, std = torch.zeros(D), torch.ones(D)
        # float32 parameters, then float64 copies for the computation
        with torch.no_grad():
            for p in list(enc.parameters()) + list(dec.parameters()):
                p.copy_(p.float().double())
        xs = ((x.double() - mean.double()) / std.double())
        with torch.no_grad():
            z = enc(xs)
            books, r, ok = [], z.clone(), True
            for l in range(levels):
                pick = torch.randperm(B, generator=g)[:K]
                c = (r[pick] + 0.3 * r.std() * torch.randn(K, latent, generator=g, dtype=torch.float64)).float().double()
                d = torch.cdist(r, c)
                top2 = d.topk(2, largest=False).values
                if ((top2[:, 1] ** 2 - top2[:, 0] ** 2) < 1e-2 * top2[:, 1] ** 2).any():
                    ok = False
                books.append(c)
                r = r - c[d.argmin(1)]
        if ok:
            break
    else:
        raise SystemExit("rqvae_ref: no well-separated case for " + name)

    books = [b.clone().requires_grad_(True) for b in books]
    z = enc(xs)
    resid, zq, quant, codes = z, torch.zeros_like(z), [], []
    for l in range(levels):
        idx = torch.cdist(resid, books[l]).argmin(1)
        q = books[l][idx]
        st = rotate_to(resid, q) if rotation else resid + (q - resid).detach()
        quant.append(err(resid.detach(), q, reduction))
        commit = err(resid, q.detach(), reduction)
        if l == 0:
            qloss = quant[-1] + beta * commit
        else:
            qloss = qloss + quant[-1] + beta * commit
        zq = zq + st
        codes.append(idx)
        resid = resid - q.detach()
    xh = dec(zq)
    recon = err(xh, xs, reduction)
    total = recon + qloss
    total.backward()

    rec = {
        "cfg": torch.tensor([D, len(hidden)] + hidden + [latent, levels, K, int(rotation), int(reduction == "sum")],
                            dtype=torch.int32),
        "beta": torch.tensor([beta]),
        "x": x,
        "input_mean": mean,
        "input_std": std,
        "codes": torch.stack(codes, 1).int(),
        "recon": recon.detach().float().reshape(1),
        "quant": torch.stack([q.detach() for q in quant]).float(),
        "total": total.detach().float().reshape(1),
    }
    for prefix, net in (("encoder", enc), ("decoder", dec)):
        for pname, p in net.named_parameters():
            rec["%s.%s" % (prefix, pname)] = p.detach().float()
            rec["d_%s.%s" % (prefix, pname)] = p.grad.float()
    for l, b in enumerate(books):
        rec["vq_layers.%d.embedding.weight" % l] = b.detach().float()
        rec["d_vq_layers.%d.embedding.weight" % l] = b.grad.float()
    save(os.path.join(OUT, "rqvae_%s.bin" % name), rec)


case("rot_sum", 1, D=24, hidden=[16, 12, 8], latent=6, levels=3, K=5, B=10, rotation=True, reduction="sum",
     standardize=True)
case("ste_mean", 2, D=24, hidden=[16, 12, 8], latent=6, levels=3, K=5, B=10, rotation=False, reduction="mean",
     standardize=False)
case("rot_mean_2l", 3, D=24, hidden=[10], latent=4, levels=2, K=4, B=9, rotation=True, reduction="mean",
     standardize=True, beta=0.5)
case("ste_sum_0h", 4, D=24, hidden=[], latent=5, levels=4, K=3, B=8, rotation=False, reduction="sum",
     standardize=True)
