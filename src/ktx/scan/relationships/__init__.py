"""Relationship discovery: keys and links from formal metadata, names, profiles and SQL validation."""
