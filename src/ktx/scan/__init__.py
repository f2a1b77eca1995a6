"""Scanning a warehouse: the artifacts a scan leaves behind, and (with database ingest) the scan itself."""
