"""`make demo`: a real ComfyUI with Afterburner on built-in tiny models, each workflow run stock and cached.

Prints, per workflow: wall time stock vs cached, the model calls computed/skipped (from the pack's own
run record), and the measured speed-up. Tiny CPU models make the timings small and noisy; the compute
counts are exact.
"""

from __future__ import annotations

from .comfy_server import ComfyServer, execution_seconds
from .prompts import cache_inputs, sampling_prompt

SIZE = 256  # pixels: large enough for the model, not ComfyUI's per-prompt overhead, to dominate

DEMOS = (
    ("Flux, Auto Cache 50%", "flux", cache_inputs("AfterburnerAutoCache", speed_factor=0.5), 28),
    ("Flux, First Block Cache", "flux", cache_inputs("AfterburnerFirstBlockCache", residual_diff_threshold=0.8), 28),
    ("SDXL, Periodic Cache", "sdxl", cache_inputs("AfterburnerPeriodicCache"), 20),
    ("Wan 2.1, Adaptive Cache", "wan21", cache_inputs("AfterburnerAdaptiveCache", threshold=0.05), 20),
)


def timed(server: ComfyServer, prompt: dict) -> float:
    return execution_seconds(server.run_prompt(prompt))


def main() -> None:
    print("Starting ComfyUI (CPU) with Afterburner...", flush=True)
    with ComfyServer() as server:
        health = server.get_json("/afterburner/health")
        print(f"Afterburner {health['version']} on ComfyUI {health['comfyui']}, torch {health['torch']}, "
              f"device {health['device']}\n", flush=True)
        rows = []
        for seed, (title, family, cache, steps) in enumerate(DEMOS, start=1):
            # Warm-up builds the model and loads it; the timed pair then compares like with like.
            server.run_prompt(sampling_prompt(family, steps=steps, seed=1000 + seed, size=SIZE))
            stock_s = timed(server, sampling_prompt(family, steps=steps, seed=seed, size=SIZE))
            cached_s = timed(server, sampling_prompt(family, steps=steps, seed=seed, size=SIZE, cache=cache))
            run = server.get_json("/afterburner/runs?limit=1")["runs"][0]
            summary = run["summary"]
            rows.append((title, steps, stock_s, cached_s, summary["computed_calls"], summary["model_calls"]))
            print(f"  done: {title}", flush=True)
    print(f"\n{'workflow':32} {'steps':>5} {'stock s':>8} {'cached s':>9} {'computed':>9} {'skipped':>8} "
          f"{'speed-up':>8}")
    for title, steps, stock_s, cached_s, computed, calls in rows:
        print(f"{title:32} {steps:5d} {stock_s:8.2f} {cached_s:9.2f} {computed:>4d}/{calls:<4d} "
              f"{calls - computed:8d} {stock_s / cached_s:7.2f}x")
    print("\nComputed/skipped count model evaluations per CFG branch. Times are the server's own execution time of\n"
          "each prompt (ComfyUI's per-prompt overhead included), on random-weight tiny models on this CPU.")


if __name__ == "__main__":
    main()
