"""Train the tiny Flux-class model of `bench/tiny_flux.py` on procedural shape images, then sample it.

    OMP_NUM_THREADS=1 .venv/bin/python bench/train_tiny_flux.py                # train, save, sample grid
    OMP_NUM_THREADS=1 .venv/bin/python bench/train_tiny_flux.py --sample-only  # grid from the saved weights

Data: 32x32 RGB images of 8 classes (`tiny_flux.CLASS_NAMES`), drawn on the fly from a seeded generator
with random position, size, rotation, colour jitter and tinted gradient backgrounds. The latent is the
exact linear encoding of `tiny_flux.to_internal` (what the model sees after ComfyUI's process_latent_in).

Objective (ComfyUI's Flux flow matching): x_t = (1 - s) x0 + s noise, the network gets timestep = s and
predicts v = noise - x0 (ComfyUI then forms denoised = x_t - s v). s ~ logit-normal(0, 1). Conditioning:
fixed random per-class context tokens and pooled vector (stored in the weights file), guidance 3.5, and
10% of the batch with the all-zero null conditioning so that CFG has an unconditional branch.

ComfyUI's Flux blocks add to activations in place (`img += ...`), which autograd rejects, so the
unmodified module is run under `torch.func.functionalize` for training. AdamW, warmup + cosine decay,
EMA of the weights (the EMA weights are saved).

After training, samples are drawn through the real `comfy.sample.sample` (28 steps euler, "simple"
schedule) with a real ModelPatcher from `tiny_flux.load_model()` and saved as a grid, one row per class.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from devpack.comfy_boot import boot_comfyui  # noqa: E402

RESULTS = REPO / "bench" / "results"

# Class -> base hue (jittered per sample); the shapes are drawn in `_shape_mask`.
_HUES = (0.0, 0.62, 0.33, 0.15, 0.85, 0.5, 0.07, 0.75)


# ---------------------------------------------------------------------------------------------- data

def _hsv_to_rgb(h, s, v):
    """Vectorised HSV -> RGB; h, s, v broadcastable tensors in [0, 1]; returns [..., 3] stacked last."""
    import torch

    h = h % 1.0
    i = torch.floor(h * 6)
    f = h * 6 - i
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    i = i.long() % 6
    r = torch.stack((v, q, p, p, t, v), -1).gather(-1, i.unsqueeze(-1)).squeeze(-1)
    g = torch.stack((t, v, v, q, p, p), -1).gather(-1, i.unsqueeze(-1)).squeeze(-1)
    b = torch.stack((p, p, t, v, v, q), -1).gather(-1, i.unsqueeze(-1)).squeeze(-1)
    return torch.stack((r, g, b), -1)


def _uniform(gen, n, lo, hi):
    import torch

    return (torch.rand((n, 1, 1), generator=gen) * (hi - lo) + lo)


def _shape_mask(labels, gen, size):
    """Soft (anti-aliased) foreground masks [n, size, size] for each label."""
    import torch

    n = labels.shape[0]
    ax = torch.arange(size, dtype=torch.float32) + 0.5
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    yy, xx = yy.expand(n, size, size), xx.expand(n, size, size)
    c = size / 2
    cx, cy = _uniform(gen, n, c - 6, c + 6), _uniform(gen, n, c - 6, c + 6)
    dx, dy = xx - cx, yy - cy
    angle = _uniform(gen, n, -0.35, 0.35)
    ca, sa = torch.cos(angle), torch.sin(angle)
    u, w = ca * dx + sa * dy, -sa * dx + ca * dy  # rotated frame
    dist = torch.sqrt(dx * dx + dy * dy)

    def soft(sdf):  # sdf < 0 inside
        return (0.5 - sdf).clamp(0, 1)

    def periodic(coord, period, phase):  # stripes with ~1px soft edges
        return (0.5 + (period / math.pi) * torch.sin(2 * math.pi * coord / period + phase) * 0.5).clamp(0, 1)

    masks = torch.empty((8, n, size, size))
    masks[0] = soft(dist - _uniform(gen, n, 5.5, 10.5))  # disc
    masks[1] = soft(torch.maximum(u.abs(), w.abs()) - _uniform(gen, n, 4.5, 9.0))  # square
    r_in = _uniform(gen, n, 3.5, 6.0)  # triangle, apex up (image y grows downwards), inradius r_in
    tri = torch.maximum(torch.maximum(w, 0.866 * u - 0.5 * w), -0.866 * u - 0.5 * w)
    masks[2] = soft(tri - r_in)
    masks[3] = soft((dist - _uniform(gen, n, 6.0, 10.5)).abs() - _uniform(gen, n, 1.2, 2.2))  # ring
    period = _uniform(gen, n, 6.0, 10.0)
    phase = _uniform(gen, n, 0, 2 * math.pi)
    masks[4] = periodic(w, period, phase)  # horizontal stripes (slightly tilted)
    masks[5] = periodic(u, period, phase)  # vertical stripes
    arm, half = _uniform(gen, n, 6.0, 11.0), _uniform(gen, n, 1.8, 3.2)  # cross (plus sign)
    masks[6] = soft(torch.minimum(torch.maximum(u.abs() - arm, w.abs() - half),
                                  torch.maximum(u.abs() - half, w.abs() - arm)))
    cell = _uniform(gen, n, 8.0, 12.0)  # checkerboard
    checker = torch.sin(2 * math.pi * xx / cell + phase) * torch.sin(2 * math.pi * yy / cell + 2 * phase)
    masks[7] = (0.5 + 3 * checker).clamp(0, 1)
    return masks[labels, torch.arange(n)]


def make_images(labels, gen, size: int = 32):
    """Procedural RGB images [n, 3, size, size] in [0, 1] for integer class `labels` [n]."""
    import torch

    n = labels.shape[0]
    hues = torch.tensor(_HUES)[labels].view(n, 1, 1)
    fg = _hsv_to_rgb(hues + _uniform(gen, n, -0.04, 0.04), _uniform(gen, n, 0.65, 1.0), _uniform(gen, n, 0.7, 1.0))
    dark = torch.rand((n, 1, 1), generator=gen) < 0.6
    bg_v = torch.where(dark, _uniform(gen, n, 0.05, 0.35), _uniform(gen, n, 0.75, 0.95))
    bg = _hsv_to_rgb(_uniform(gen, n, 0, 1), _uniform(gen, n, 0, 0.3), bg_v)  # [n, 1, 1, 3]
    ax = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    theta = _uniform(gen, n, 0, 2 * math.pi)
    ramp = (torch.cos(theta) * xx + torch.sin(theta) * yy) * _uniform(gen, n, 0, 0.3)  # [n, size, size]
    bg = (bg + ramp.unsqueeze(-1)).clamp(0, 1)
    m = _shape_mask(labels, gen, size).unsqueeze(-1)
    img = bg * (1 - m) + fg * m
    return img.permute(0, 3, 1, 2).contiguous().clamp(0, 1)


# ---------------------------------------------------------------------------------------------- training

def _init_for_training(net, seed: int) -> None:
    """N(0, 1/fan_in) everywhere (devpack's init), then DiT-style zero init of every modulation and of the
    output layer so each block starts as the identity and the first prediction is 0."""
    import torch

    from devpack.tiny_models import init_weights

    init_weights(net, seed=seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if ".lin." in name or "adaLN_modulation" in name or name.startswith("final_layer.linear"):
                p.zero_()


def save_grid(images, path: Path, rows: int, scale: int = 4) -> None:
    """images [N, 3, H, W] in [0, 1], N = rows * cols, as one PNG (nearest-neighbour upscaled, 2px gaps)."""
    import numpy as np
    import torch
    from PIL import Image

    n, _, h, w = images.shape
    cols = n // rows
    gap = 2
    canvas = torch.ones((3, rows * (h * scale + gap) + gap, cols * (w * scale + gap) + gap))
    big = torch.nn.functional.interpolate(images.float(), scale_factor=scale, mode="nearest")
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = gap + r * (h * scale + gap), gap + c * (w * scale + gap)
        canvas[:, y:y + h * scale, x:x + w * scale] = big[i]
    arr = (canvas.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def train(args) -> None:
    import safetensors.torch
    import torch

    from bench import tiny_flux

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    cfg = tiny_flux.CONFIG
    context = torch.randn((tiny_flux.NUM_CLASSES, tiny_flux.TOKENS, cfg["context_in_dim"]), generator=gen)
    pooled = torch.randn((tiny_flux.NUM_CLASSES, cfg["vec_in_dim"]), generator=gen)

    net = tiny_flux.build_model().model.diffusion_model
    _init_for_training(net, seed=args.seed)
    net.train()
    n_params = sum(p.numel() for p in net.parameters())
    print(f"params: {n_params:,}  config: {cfg}", flush=True)
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)

    decay, no_decay = [], []
    for name, p in net.named_parameters():
        (decay if p.ndim >= 2 and "embed" not in name else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99))

    def forward(x, sigma, ctx, y, guidance):
        return net(x, sigma, ctx, y=y, guidance=guidance, transformer_options={})

    fforward = torch.func.functionalize(forward)
    b = args.batch
    guidance = torch.full((b,), tiny_flux.GUIDANCE)
    log, window = [], []
    t0 = time.time()
    budget_s = args.max_minutes * 60 if args.max_minutes else math.inf
    step = 0
    while True:
        step += 1
        # Progress through the cosine schedule by steps or by wall time, whichever is further along, so that
        # the learning rate always anneals before the end even on a busy machine.
        progress = min(1.0, max(step / args.steps, (time.time() - t0) / budget_s))
        last = progress >= 1.0
        lr = args.lr * min(1.0, step / args.warmup)
        lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
        for group in opt.param_groups:
            group["lr"] = lr
        with torch.no_grad():
            labels = torch.randint(0, tiny_flux.NUM_CLASSES, (b,), generator=gen)
            x0 = tiny_flux.to_internal(make_images(labels, gen))
            noise = torch.randn(x0.shape, generator=gen)
            sigma = torch.sigmoid(torch.randn((b,), generator=gen))
            s = sigma.view(b, 1, 1, 1)
            xt = (1 - s) * x0 + s * noise
            target = noise - x0
            keep = (torch.rand((b,), generator=gen) >= args.p_uncond).float()
            ctx = context[labels] * keep.view(b, 1, 1)
            y = pooled[labels] * keep.view(b, 1)
        out = fforward(xt, sigma, ctx, y, guidance)
        loss = torch.nn.functional.mse_loss(out, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(args.ema, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), net.parameters(), strict=True):
                pe.lerp_(p, 1 - d)
        window.append(loss.item())
        if step % args.log_every == 0 or last:
            mean = sum(window) / len(window)
            window.clear()
            elapsed = time.time() - t0
            log.append((step, mean, elapsed))
            print(f"step {step:5d}  loss {mean:.4f}  lr {lr:.2e}  {elapsed:7.1f}s", flush=True)
        if last:
            if step < args.steps:
                print(f"time budget ({args.max_minutes} min) reached at step {step}", flush=True)
            break

    # fp16 on disk (half the size); load_model copies them into the float32 model.
    state = {tiny_flux.MODEL_PREFIX + k: v.detach().half().contiguous() for k, v in ema.state_dict().items()}
    state[tiny_flux.CONTEXT_KEY] = context.contiguous()
    state[tiny_flux.POOLED_KEY] = pooled.contiguous()
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"steps": str(log[-1][0]), "final_loss": f"{log[-1][1]:.4f}", "wall_s": f"{log[-1][2]:.0f}",
            "batch": str(b), "lr": str(args.lr), "seed": str(args.seed)}
    safetensors.torch.save_file(state, str(out_path), metadata=meta)
    out_path.chmod(0o644)
    print(f"saved {out_path} ({out_path.stat().st_size / 1e6:.1f} MB)  loss curve: "
          + ", ".join(f"{s}:{m:.4f}" for s, m, _ in log), flush=True)


# ---------------------------------------------------------------------------------------------- sampling

def sample_grid(args) -> None:
    import comfy.sample
    import torch

    from bench import tiny_flux

    gen = torch.Generator().manual_seed(1234)
    labels = torch.arange(tiny_flux.NUM_CLASSES).repeat_interleave(args.per_class)
    save_grid(make_images(labels, gen), RESULTS / "tiny_flux_data.png", rows=tiny_flux.NUM_CLASSES)

    patcher = tiny_flux.load_model(Path(args.out))
    for cfg_scale, name in ((1.0, "tiny_flux_samples.png"), (args.cfg, "tiny_flux_samples_cfg.png")):
        t0 = time.time()
        rows = []
        for cls in range(tiny_flux.NUM_CLASSES):
            latent = tiny_flux.empty_latent(args.per_class)
            noise = comfy.sample.prepare_noise(latent, cls)
            out = comfy.sample.sample(patcher, noise, args.sample_steps, cfg_scale, "euler", "simple",
                                      tiny_flux.conditioning(cls, args.per_class),
                                      tiny_flux.conditioning(None, args.per_class), latent,
                                      seed=cls, disable_pbar=True)
            rows.append(tiny_flux.decode(out))
        save_grid(torch.cat(rows), RESULTS / name, rows=tiny_flux.NUM_CLASSES)
        print(f"cfg {cfg_scale}: wrote {RESULTS / name} ({time.time() - t0:.1f}s)", flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--ema", type=float, default=0.998)
    p.add_argument("--p-uncond", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--max-minutes", type=float, default=38.0,
                   help="wall-time budget: the schedule anneals and training stops by then")
    p.add_argument("--out", default=str(REPO / "bench" / "models" / "tiny_flux.safetensors"))
    p.add_argument("--sample-only", action="store_true")
    p.add_argument("--per-class", type=int, default=8)
    p.add_argument("--sample-steps", type=int, default=28)
    p.add_argument("--cfg", type=float, default=3.0, help="CFG scale of the second sample grid")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    # Training only: PyTorch SDPA instead of the CPU default (sub-quadratic) attention; same maths, faster.
    boot_comfyui(threads=args.threads, pytorch_attention=not args.sample_only)
    if not args.sample_only:
        train(args)
    sample_grid(args)


if __name__ == "__main__":
    main()
