"""Measuring HyperQuest, apart from the product: speed of the engine, latency around an epoch, the GPU check,
the class simulation, the pool's cold start, the load test. Not shipped in the image; run from a checkout
(``python -m bench``, ``python bench/<script>.py``; see docs/benchmarks.md)."""
