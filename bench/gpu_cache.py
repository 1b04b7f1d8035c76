"""Wall-clock speed-up against compute saved, for each cache method, on a full-size Flux on a GPU.

The quality benchmark (`bench/cache_quality.py`) counts compute on a tiny model on a CPU, where a step is
dominated by Python overhead. This one asks the question a GPU user has: when a method skips a fraction of
the transformer blocks, does the wall clock drop by as much? `efficiency` = wall speed-up x compute
fraction: 1.00 means the method's decision logic, host syncs and extra tensor work cost nothing; the issue
asks for >= 0.95. Random weights (full-size Flux.1-dev architecture, bf16): the signal-driven methods
decide on meaningless trajectories, so their compute fractions say nothing about quality, only their
costs are measured here. Each row: the best of `--repeats` timed runs after a warm-up, one process, side
by side with stock ComfyUI and ComfyUI's own EasyCache and LazyCache.

    python bench/gpu_cache.py --compile                # on the GPU machine; --compile adds a compiled pass
    python bench/gpu_cache.py --depth 2 --size 256     # a quick check of the harness on a shrunk model
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import full_flux

RESULTS = Path(__file__).resolve().parent / "results"


def methods() -> list:
    from comfy_extras.nodes_easycache import EasyCacheNode, LazyCacheNode

    from afterburner.py.nodes import cache_nodes
    from bench.methods import comfy_cache, ours

    fb = {"start": 0.0, "end": 1.0, "max_consecutive_cache_hits": -1}
    return [
        ours(cache_nodes.AfterburnerPeriodicCache, "periodic", cache_interval=2, start_step=2, cache_mode="default"),
        ours(cache_nodes.AfterburnerPeriodicCache, "periodic", cache_interval=3, start_step=2, cache_mode="taylor"),
        ours(cache_nodes.AfterburnerAutoCache, "auto", speed_factor=0.5, cache_mode="default"),
        ours(cache_nodes.AfterburnerAutoCache, "auto", speed_factor=0.4, cache_mode="taylor"),
        ours(cache_nodes.AfterburnerAdaptiveCache, "adaptive", threshold=0.05, max_skip_steps=4, cache_mode="default"),
        ours(cache_nodes.AfterburnerFirstBlockCache, "first_block", residual_diff_threshold=0.3, cache_mode="default",
             **fb),
        comfy_cache(EasyCacheNode, "easycache", 0.2),
        comfy_cache(LazyCacheNode, "lazycache", 0.2),
    ]


def run(model: Any, steps: int, size: int, repeats: int, count: bool = True) -> tuple[float, int | None]:
    """Best wall time of `repeats` runs and the blocks the first one evaluated (None when not counted: a
    compiled block guards on its hooks, so counting would recompile it every run)."""
    from bench.methods import BlockCounter

    times, blocks = [], None
    for _ in range(repeats):
        counter = BlockCounter(model) if count else None
        start = time.perf_counter()
        try:
            full_flux.sample(model, steps, size)
        finally:
            if counter is not None:
                counter.close()
        times.append(time.perf_counter() - start)
        blocks = counter.count if blocks is None and counter is not None else blocks
    return min(times), blocks


def compiled_pass(model: Any, rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The same methods on top of Afterburner Compile (per block; Load -> Compile -> Cache, as a workflow
    stacks them): wall time only, against the eager stock run. Compute fractions are the eager pass's."""
    from afterburner.py.nodes.compile_nodes import AfterburnerCompile

    compiled = AfterburnerCompile.execute(model, backend="inductor", mode="default", dynamic="auto",
                                          fullgraph=False, scope="per block", save_compiled=False).result[0]
    full_flux.sample(compiled, 3, args.size)  # compiles
    stock_s = rows[0]["wall_s"]
    for row, method in zip(rows, [None, *methods()], strict=True):
        seconds, _ = run(method.patch(compiled) if method else compiled, args.steps, args.size, args.repeats,
                         count=False)
        row.update(compiled_wall_s=round(seconds, 3), compiled_speedup=round(stock_s / seconds, 4))
        print(json.dumps(row), flush=True)


def render_markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        f"# Cache wall-clock on a GPU: {env['gpu']}",
        "",
        f"Full-size Flux.1-dev architecture, random {env['dtype']} weights, {report['size']}x{report['size']} px, "
        f"{report['steps']} steps euler, cfg 1; torch {env['torch']}, ComfyUI {env['comfyui']}. Best of "
        f"{report['repeats']} runs each. Produced by `bench/gpu_cache.py`.",
        "",
        "| method | params | compute | wall (s) | wall speed-up | 1 / compute | efficiency | compiled: wall (s) "
        "| compiled: speed-up |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        compiled = (f"{row['compiled_wall_s']:.2f} | {row['compiled_speedup']:.2f}x" if "compiled_wall_s" in row
                    else "- | -")
        lines.append(f"| {row['method']} | {params} | {row['compute_fraction']:.2f} | {row['wall_s']:.2f} | "
                     f"{row['speedup_wall']:.2f}x | {1 / row['compute_fraction']:.2f}x | {row['efficiency']:.3f} | "
                     f"{compiled} |")
    lines += ["", "efficiency = wall speed-up x compute fraction (1.000: skipping costs nothing beyond the blocks it "
              "skips). Random weights: compute fractions of signal-driven methods say nothing about quality.",
              "compiled: the same method on top of Afterburner Compile (per block), speed-up against the eager stock "
              "run (`--compile`; '-' where not run).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--depth", type=int, help="double blocks (default: Flux.1-dev's 19)")
    parser.add_argument("--single-depth", type=int, help="single blocks (default: Flux.1-dev's 38)")
    parser.add_argument("--width", type=int, help="hidden size, a multiple of 128 (default: Flux.1-dev's 3072)")
    parser.add_argument("--compile", action="store_true", help="also time every method on a compiled model")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    full_flux.boot()
    model = full_flux.build(depth=args.depth, single_depth=args.single_depth, width=args.width)
    full_flux.sample(model, 3, args.size)  # warm-up: kernels, allocator, ComfyUI's first load
    stock_s, stock_blocks = run(model, args.steps, args.size, args.repeats)
    rows = [{"method": "stock", "params": {}, "compute_fraction": 1.0, "wall_s": stock_s, "speedup_wall": 1.0,
             "efficiency": 1.0}]
    print(f"stock: {stock_s:.2f} s, {stock_blocks} block evaluations", flush=True)
    for method in methods():
        seconds, blocks = run(method.patch(model), args.steps, args.size, args.repeats)
        fraction = blocks / stock_blocks
        rows.append({"method": method.name, "params": method.params, "compute_fraction": round(fraction, 4),
                     "wall_s": round(seconds, 3), "speedup_wall": round(stock_s / seconds, 4),
                     "efficiency": round(stock_s / seconds * fraction, 4)})
        print(json.dumps(rows[-1]), flush=True)
    if args.compile:
        compiled_pass(model, rows, args)
    report = {"environment": full_flux.environment(), "steps": args.steps, "size": args.size,
              "repeats": args.repeats, "depth": args.depth or full_flux.FLUX_DEV["depth"],
              "single_depth": args.single_depth or full_flux.FLUX_DEV["depth_single_blocks"],
              "width": args.width or full_flux.FLUX_DEV["hidden_size"], "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_cache.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "gpu_cache.md").write_text(render_markdown(report))
    print(render_markdown(report))


if __name__ == "__main__":
    main()
