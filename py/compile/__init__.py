"""Compilation: regional (per block) or whole-model torch.compile, LoRA-safe, with recompile observation and
persistent compiled artifacts."""
