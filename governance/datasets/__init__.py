"""Datasets: declaration and schema, ingestion of uploads, the encrypted datastore and the
keys of its files."""
