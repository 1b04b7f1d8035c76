"""Development tooling: ComfyUI in-process boot, a real server launcher, the demo. Never shipped to users."""
