"""Benchmarks and synthetic inputs for the loaders (never real trace records)."""
