"""Step caching: one engine (cut, signal, policy, reuse) behind every cache node."""
