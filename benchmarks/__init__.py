"""The ingestion benchmark: ``python -m benchmarks.run`` (or ``make bench``) writes ``benchmarks/RESULTS.md``."""
