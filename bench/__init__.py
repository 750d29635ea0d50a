"""Benchmarks (not tests): ingest, query and load against a real stack. See bench/README.md."""
