"""Datasets: declaration and schema, reclassification, ingestion of uploads, the encrypted
datastore and the keys of its files."""
