"""The Afterburner Compile node on a full-size Flux on a GPU: cold start, warm restart, step time vs eager.

For each scope ("block": per block, the default; "whole": the whole diffusion model), in fresh processes:

- cold_s: applying the node and its first one-step sampling call, with an empty inductor cache directory
  (dynamo tracing, inductor code generation and triton compilation included), after eager steps in the same
  process, so a process's first-call costs are in neither this nor warm_restart_s;
- step_s / eager_step_s: steady-state seconds per step, compiled and eager (best of 2 runs of 4 steps);
- recompiles_after_first: compile events after the first call over resolutions x batch sizes (`--sweep`;
  LoRA is left to the CPU benchmark: patching 12 B random weights says nothing new here), and
  sweep_max_error, the largest relative difference between a sweep call's latent and eager's;
- warm_restart_s: the same in a new process with another empty inductor cache, where applying the node loads
  the artifacts the cold process saved.

Rows are merged into `--out`/gpu_compile.json by scope, so the scopes can run in separate calls.

    python bench/gpu_compile.py --scopes block
    python bench/gpu_compile.py --scopes whole --sweep ""      # whole-model sweeps recompile the whole graph
    python bench/gpu_compile.py --depth 2 --single-depth 2 --size 512   # a quick check of the harness
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import full_flux
from bench.child_process import run_child

RESULTS = Path(__file__).resolve().parent / "results"
SCOPES = {"whole": "whole model", "block": "per block"}
STEADY_STEPS = 4


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _compiled(model: Any, scope: str, mode: str) -> Any:
    from afterburner.py.nodes.compile_nodes import AfterburnerCompile

    return AfterburnerCompile.execute(model, backend="inductor", mode=mode, dynamic="auto", fullgraph=False,
                                      scope=SCOPES[scope], save_compiled=True).result[0]


def _compiles() -> list[dict[str, Any]]:
    from afterburner.py.telemetry import get_bus

    bus = get_bus()
    bus.flush()
    return list(bus.history.compiles)


def _steady(model: Any, size: int) -> float:
    return min(_timed(lambda: full_flux.sample(model, STEADY_STEPS, size)) for _ in range(2)) / STEADY_STEPS


def child(phase: str, scope: str, artifacts: str, options: dict[str, Any]) -> dict[str, Any]:
    full_flux.boot()
    import folder_paths

    folder_paths.add_model_folder_path("afterburner_compile", artifacts, is_default=True)
    model = full_flux.build(depth=options["depth"], single_depth=options["single_depth"], width=options["width"])
    size = options["size"]
    # Eager steps first in both phases: a process's first calls (cuBLAS handles, CUDA's lazy kernel loading,
    # ComfyUI's first load) cost the same compiled or not, and cold and warm figures must both leave them out.
    full_flux.sample(model, 2, size)
    start = time.perf_counter()
    compiled = _compiled(model, scope, options["mode"])  # a warm restart loads the saved artifacts here
    full_flux.sample(compiled, 1, size)
    first_s = time.perf_counter() - start
    if phase == "warm":
        from torch._dynamo.utils import get_compilation_metrics

        misses = sum(m.inductor_fx_local_cache_miss_count or 0 for m in get_compilation_metrics())
        return {"warm_restart_s": first_s, "warm_codegen_misses": misses}

    eager = _steady(model, size)
    full_flux.sample(compiled, STEADY_STEPS, size)  # anything the later steps still compile
    first = len(_compiles())
    step = _steady(compiled, size)
    sweep_s, errors = 0.0, []
    for sweep_size in options["sweep"]:
        for batch in (1, 2):
            start = time.perf_counter()
            out = full_flux.sample(compiled, 2, sweep_size, batch)
            sweep_s += time.perf_counter() - start
            errors.append(relative_error(out, full_flux.sample(model, 2, sweep_size, batch)))
    events = _compiles()
    return {"environment": full_flux.environment(), "cold_s": first_s, "step_s": step, "eager_step_s": eager,
            "compiles_in_first_calls": first,
            "recompiles_after_first": len(events) - first, "sweep_s": sweep_s,
            "sweep_reasons": [event["reason"][:200] for event in events[first:]],
            "sweep_max_error": max(errors, default=None)}


def relative_error(out: Any, ref: Any) -> float:
    """||out - ref|| / ||ref|| of two sampled latents: small where compiled and eager differ only by bf16 rounding
    in fused and unfused kernels, of order 1 where compiled code is wrong for a size (a stale constant, a wrong
    stride)."""
    return float((out.float() - ref.float()).norm() / ref.float().norm())


def _run_child(phase: str, scope: str, artifacts: Path, options: dict[str, Any]) -> dict[str, Any]:
    env = {"TORCHINDUCTOR_CACHE_DIR": tempfile.mkdtemp(prefix=f"afterburner-inductor-{phase}-")}
    return run_child(Path(__file__).resolve(), [phase, scope, str(artifacts), json.dumps(options)], env,
                     f"{phase} {scope}")


def render_markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        f"# Afterburner Compile on a GPU: {env['gpu']}",
        "",
        f"Full-size Flux.1-dev architecture ({report['depth']} double + {report['single_depth']} single blocks), "
        f"random {env['dtype']} weights, {report['size']}x{report['size']} px, euler, cfg 1; inductor, dynamic auto; "
        f"torch {env['torch']}, ComfyUI {env['comfyui']}, {env['cpu_cores']} CPU cores. Produced by "
        "`bench/gpu_compile.py`.",
        "",
        "| scope | mode | cold start (s) | warm restart (s) | step (s) | eager step (s) | speed-up "
        "| recompiles after first |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        sweep = str(row["recompiles_after_first"]) if row["sweep"] else "not swept"
        lines.append(f"| {row['scope']} | {row.get('mode', 'default')} | {row['cold_s']:.1f} | "
                     f"{row['warm_restart_s']:.1f} | {row['step_s']:.3f} | "
                     f"{row['eager_step_s']:.3f} | {row['eager_step_s'] / row['step_s']:.2f}x | {sweep} |")
    tflop = full_flux.tflop_per_step(report["size"], report["depth"], report["single_depth"], report["width"])
    rates = "; ".join(f"{row['scope']}: eager {tflop / row['eager_step_s']:.0f}, compiled {tflop / row['step_s']:.0f}"
                      for row in report["rows"])
    lines += ["", "- cold: applying the node and its first one-step call, fresh process, empty inductor cache (compile "
              "included), after two eager steps (a process's first calls cost the same compiled or not).",
              "- warm restart: the same in a fresh process with another empty inductor cache, loading the artifacts "
              "saved by the cold process.",
              f"- step: best of 2 runs of {STEADY_STEPS} steps, per step, sampler overhead included.",
              "- recompiles after first: compile events over the sweep's resolutions (px) x batch 1, 2; each sweep "
              "call is also sampled eager, and the json's `sweep_max_error` is the largest ||compiled - eager|| / "
              "||eager|| of the sampled latents.",
              f"- work per step: {tflop:.0f} TFLOP of block matmuls and attention (`full_flux.tflop_per_step`), so "
              f"TFLOP/s {rates}. Attention runs in PyTorch's fused SDPA kernel either way, so the compiler gains "
              "only on the linears' neighbours (norms, modulation, RoPE, activations).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scopes", default="block,whole")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--mode", default="default", help="inductor mode (the node's `mode` input)")
    parser.add_argument("--sweep", default="768,1024,1280", help="resolutions for the recompile sweep ('' for none)")
    parser.add_argument("--depth", type=int, help="double blocks (default: Flux.1-dev's 19)")
    parser.add_argument("--single-depth", type=int, help="single blocks (default: Flux.1-dev's 38)")
    parser.add_argument("--width", type=int, help="hidden size, a multiple of 128 (default: Flux.1-dev's 3072)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=5, metavar=("PHASE", "SCOPE", "ARTIFACTS", "OPTIONS", "OUT"))
    args = parser.parse_args()
    if args.child:
        phase, scope, artifacts, options, out = args.child
        Path(out).write_text(json.dumps(child(phase, scope, artifacts, json.loads(options))))
        return

    options = {"mode": args.mode, "size": args.size, "depth": args.depth, "single_depth": args.single_depth,
               "width": args.width, "sweep": [int(s) for s in args.sweep.split(",") if s]}
    path = args.out / "gpu_compile.json"
    report = json.loads(path.read_text()) if path.exists() else {"rows": []}
    work = Path(tempfile.mkdtemp(prefix="afterburner-gpu-compile-"))
    for scope in args.scopes.split(","):
        artifacts = work / f"{scope}-artifacts"
        cold = _run_child("cold", scope, artifacts, options)
        warm = _run_child("warm", scope, artifacts, options)
        row = {"arch": "flux_dev_size", "scope": scope, "mode": args.mode, "cold_s": round(cold["cold_s"], 2),
               "warm_restart_s": round(warm["warm_restart_s"], 2), "step_s": round(cold["step_s"], 4),
               "eager_step_s": round(cold["eager_step_s"], 4), "sweep": options["sweep"],
               "recompiles_after_first": cold["recompiles_after_first"],
               "compiles_in_first_calls": cold["compiles_in_first_calls"],
               "warm_codegen_misses": warm["warm_codegen_misses"], "sweep_s": round(cold["sweep_s"], 1),
               "sweep_reasons": cold["sweep_reasons"], "sweep_max_error": cold["sweep_max_error"]}
        report["rows"] = [r for r in report["rows"] if (r["scope"], r.get("mode", "default")) != (scope, args.mode)]
        report["rows"].append(row)
        report.update(environment=cold["environment"], size=args.size,
                      depth=args.depth or full_flux.FLUX_DEV["depth"],
                      single_depth=args.single_depth or full_flux.FLUX_DEV["depth_single_blocks"],
                      width=args.width or full_flux.FLUX_DEV["hidden_size"])
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")  # after each scope: a later one may run out of time
        (args.out / "gpu_compile.md").write_text(render_markdown(report))
    print(render_markdown(report))


if __name__ == "__main__":
    main()
