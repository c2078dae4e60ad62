"""Batch scanning: classify millions of stored listings, resumably, with an audit trail.

    from serve.scan import ScanOptions, run_scan
    summary = run_scan(ScanOptions(inputs=["crawl/"], model="default", output="out/"))

Inputs are streamed chunk by chunk (:mod:`serve.scan.readers`), each chunk is validated and
scored (:mod:`serve.scan.scoring`), written as an atomic Parquet part and committed to a
manifest (:mod:`serve.scan.manifest`), so a killed scan resumes without losing or duplicating
a row. Engines: a local process pool (:mod:`serve.scan.engine_local`) or Ray
(:mod:`serve.scan.engine_ray`).
"""

from serve.scan.runner import ScanError, ScanOptions, run_scan

__all__ = ["ScanError", "ScanOptions", "run_scan"]
