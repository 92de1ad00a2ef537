"""HTTP benchmarks: see bench/RESULTS.md."""
