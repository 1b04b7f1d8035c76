"""Quality against compute for every cache method, Afterburner's and ComfyUI's own, on a trained tiny Flux.

    .venv/bin/python bench/cache_quality.py            # the full sweep (about 20 min on one CPU thread)
    .venv/bin/python bench/cache_quality.py --quick    # a smoke run: 2 seeds, one setting, a few methods

Every run samples through the real ComfyUI sampler, one seed at a time, against an uncached run of the
same seed. The methods and how compute is counted (block evaluations, the same for every method) are in
`bench/methods.py`; ComfyUI's EasyCache is run as shipped and also with its input copied.

Writes bench/results/cache_quality.{json,md,png}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devpack.comfy_boot import boot_comfyui  # noqa: E402
from devtools.pack_import import register_pack  # noqa: E402

register_pack()
boot_comfyui(threads=1)

import comfy.sample  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from comfy_extras.nodes_easycache import EasyCacheNode, LazyCacheNode  # noqa: E402
from comfyui_version import __version__ as comfyui_version  # noqa: E402

from afterburner.py.nodes import cache_nodes  # noqa: E402
from bench import tiny_flux  # noqa: E402
from bench.methods import BlockCounter, Method, comfy_cache, label, ours  # noqa: E402

RESULTS = REPO / "bench" / "results"


def methods(quick: bool) -> list[Method]:
    fb = {"start": 0.0, "end": 1.0, "max_consecutive_cache_hits": -1}
    out = []
    for mode in ("default",) if quick else ("default", "taylor"):
        out += [ours(cache_nodes.AfterburnerPeriodicCache, "periodic", cache_interval=k, start_step=2, cache_mode=mode)
                for k in ((2,) if quick else (2, 3, 4))]
        out += [ours(cache_nodes.AfterburnerAutoCache, "auto", speed_factor=f, cache_mode=mode)
                for f in ((0.4,) if quick else (0.25, 0.33, 0.4, 0.5, 0.65))]
        out += [ours(cache_nodes.AfterburnerAdaptiveCache, "adaptive", threshold=t, max_skip_steps=4, cache_mode=mode)
                for t in ((0.05,) if quick else (0.02, 0.05, 0.1, 0.2))]
        out += [ours(cache_nodes.AfterburnerFirstBlockCache, "first_block", residual_diff_threshold=t, cache_mode=mode,
                     **fb) for t in ((0.1,) if quick else (0.05, 0.1, 0.2, 0.3))]
    thresholds = (0.2,) if quick else (0.05, 0.1, 0.2, 0.4, 0.8)
    out += [comfy_cache(EasyCacheNode, "easycache", t) for t in thresholds]
    out += [comfy_cache(EasyCacheNode, "easycache_input_copied", t, copy_input=True) for t in thresholds]
    out += [comfy_cache(LazyCacheNode, "lazycache", t) for t in thresholds]
    return out


def psnr(x: torch.Tensor, ref: torch.Tensor) -> float:
    mse = F.mse_loss(x.float(), ref.float()).item()
    peak = (ref.max() - ref.min()).item()
    return 99.0 if mse == 0 else 10 * math.log10(peak * peak / mse)


def ssim(x: torch.Tensor, ref: torch.Tensor) -> float:
    """Mean SSIM of images in [0, 1], 7x7 Gaussian window (sigma 1.5), per channel."""
    coords = torch.arange(7, dtype=torch.float32) - 3
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    window = (g[:, None] * g[None, :] / g.sum() ** 2).expand(x.shape[1], 1, 7, 7)

    def blur(t):
        return F.conv2d(t, window, groups=x.shape[1])

    mx, my = blur(x), blur(ref)
    vx, vy, cov = blur(x * x) - mx * mx, blur(ref * ref) - my * my, blur(x * ref) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return (((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))).mean().item()


@dataclasses.dataclass
class Setting:
    steps: int
    sampler: str
    seeds: int


def sample(model, seed: int, setting: Setting) -> tuple[torch.Tensor, float, int]:
    class_id = seed % tiny_flux.NUM_CLASSES
    positive, negative = tiny_flux.conditioning(class_id), tiny_flux.conditioning(None)
    latent = torch.zeros(1, 16, tiny_flux.LATENT_SIZE, tiny_flux.LATENT_SIZE)
    noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(seed))
    counter = BlockCounter(model)
    start = time.perf_counter()
    try:
        out = comfy.sample.sample(model, noise, setting.steps, 1.0, setting.sampler, "simple", positive, negative,
                                  latent, seed=seed, disable_pbar=True)
    finally:
        counter.close()
    return out, time.perf_counter() - start, counter.count


def measure(base_model, method: Method | None, setting: Setting, reference: list | None) -> dict[str, Any]:
    model = method.patch(base_model) if method else base_model
    latents, seconds, blocks = [], 0.0, 0
    for seed in range(setting.seeds):
        out, dt, count = sample(model, seed, setting)
        latents.append(out)
        seconds, blocks = seconds + dt, blocks + count
    row: dict[str, Any] = {"latents": latents, "seconds": seconds, "blocks": blocks}
    if reference is not None:
        ref_latents = reference["latents"]
        row["psnr_latent"] = sum(psnr(a, b) for a, b in zip(latents, ref_latents, strict=True)) / len(latents)
        row["ssim_image"] = sum(ssim(tiny_flux.decode(a), tiny_flux.decode(b))
                                for a, b in zip(latents, ref_latents, strict=True)) / len(latents)
        row["compute_fraction"] = blocks / reference["blocks"]
        row["speedup_wall"] = reference["seconds"] / seconds
    return row


def frontier(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows that no other row beats on both compute and quality, by increasing compute."""
    best, out = float("-inf"), []
    for row in sorted(rows, key=lambda r: (r["compute_fraction"], -r["psnr_latent"])):
        if row["psnr_latent"] > best:
            best = row["psnr_latent"]
            out.append(row)
    return out


def summary(results: dict[str, Any]) -> list[str]:
    """Per setting: the least compute each method needs for 30 dB, and which ComfyUI points our frontier beats."""
    lines = []
    for steps, sampler in sorted({(r["steps"], r["sampler"]) for r in results["rows"]}):
        rows = [r for r in results["rows"] if (r["steps"], r["sampler"]) == (steps, sampler)]
        ours = [r for r in rows if r["method"].startswith("afterburner:")]
        theirs = [r for r in rows if r["method"] in ("comfy:easycache_input_copied", "comfy:lazycache")]
        dominated = [r for r in theirs if any(o["compute_fraction"] <= r["compute_fraction"] and
                                              o["psnr_latent"] >= r["psnr_latent"] for o in ours)]
        at_30 = {}
        for r in rows:
            if r["psnr_latent"] >= 30:
                at_30[label(r)] = min(at_30.get(label(r), 1.0), r["compute_fraction"])
        best = sorted(at_30.items(), key=lambda kv: kv[1])
        lines.append(f"- {steps} steps, {sampler}: our frontier dominates {len(dominated)} of {len(theirs)} "
                     f"points of EasyCache (input copied) and LazyCache. Least compute at >= 30 dB: "
                     + "; ".join(f"{name} {fraction:.2f} ({1 / fraction:.2f}x fewer)" for name, fraction in best[:4]))
    return lines


def write_markdown(results: dict[str, Any], path: Path) -> None:
    lines = [f"Machine: {results['machine']}; torch {results['torch']}; ComfyUI {results['comfyui']}; "
             f"model: {results['model']}.", "", *summary(results), "",
             "| method | params | steps | sampler | compute | wall speed-up | PSNR latent (dB) | SSIM image |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(results["rows"], key=lambda r: (r["steps"], r["sampler"], label(r), r["compute_fraction"])):
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        lines.append(f"| {r['method']} | {params} | {r['steps']} | {r['sampler']} | {r['compute_fraction']:.2f} | "
                     f"{r['speedup_wall']:.2f}x | {r['psnr_latent']:.1f} | {r['ssim_image']:.3f} |")
    path.write_text("\n".join(lines) + "\n")


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = sorted({(r["steps"], r["sampler"]) for r in results["rows"]})
    fig, axes = plt.subplots(1, len(settings), figsize=(5.2 * len(settings), 4.6), squeeze=False)
    for ax, (steps, sampler) in zip(axes[0], settings, strict=True):
        rows = [r for r in results["rows"] if (r["steps"], r["sampler"]) == (steps, sampler)]
        for name in sorted({label(r) for r in rows}):
            pts = sorted((r["compute_fraction"], r["psnr_latent"]) for r in rows if label(r) == name)
            ours = name.startswith("afterburner")
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-" if ours else "s--", label=name, markersize=3,
                    lw=0.8, alpha=0.55 if ours else 0.9)
        edge = frontier([r for r in rows if r["method"].startswith("afterburner:")])
        ax.plot([r["compute_fraction"] for r in edge], [r["psnr_latent"] for r in edge], "k-", lw=2.2,
                label="Afterburner frontier")
        ax.set_title(f"{steps} steps, {sampler}")
        ax.set_xlabel("block evaluations (fraction of uncached)")
        ax.set_ylabel("PSNR of final latent vs uncached (dB)")
        ax.set_ylim(0, 55)
        ax.axhline(30, color="grey", lw=0.5)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6, loc="lower right", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 28 steps euler, a few methods")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--replot", action="store_true", help="redraw the table and plot from the saved JSON")
    args = parser.parse_args()
    if args.replot:
        results = json.loads((args.out / "cache_quality.json").read_text())
        write_markdown(results, args.out / "cache_quality.md")
        plot(results, args.out / "cache_quality.png")
        return
    settings = ([Setting(28, "euler", 2)] if args.quick else
                [Setting(s, sampler, 16) for s in (28, 50) for sampler in ("euler", "dpmpp_2m")])
    base_model = tiny_flux.load_model()
    rows = []
    for setting in settings:
        reference = measure(base_model, None, setting, None)
        for method in methods(args.quick):
            row = measure(base_model, method, setting, reference)
            rows.append({"method": method.name, "params": method.params, "steps": setting.steps,
                         "sampler": setting.sampler, "seeds": setting.seeds,
                         **{k: row[k] for k in ("compute_fraction", "speedup_wall", "psnr_latent", "ssim_image")}})
            print(f"{setting.steps:3d} {setting.sampler:9s} {method.name:38s} {json.dumps(method.params):70s} "
                  f"compute {rows[-1]['compute_fraction']:.2f}  psnr {rows[-1]['psnr_latent']:5.1f}  "
                  f"ssim {rows[-1]['ssim_image']:.3f}  x{rows[-1]['speedup_wall']:.2f}", flush=True)
    results = {"machine": f"{platform.machine()} CPU, {torch.get_num_threads()} torch thread(s)",
               "torch": torch.__version__, "comfyui": comfyui_version,
               "model": "tiny Flux-class model trained by bench/train_tiny_flux.py",
               "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cache_quality.json").write_text(json.dumps(results, indent=1))
    write_markdown(results, args.out / "cache_quality.md")
    plot(results, args.out / "cache_quality.png")
    print(f"wrote {args.out}/cache_quality.json, .md and .png")


if __name__ == "__main__":
    main()
