"""Ingest: build a project's context from its connections (database scans today; sources in a later version)."""
