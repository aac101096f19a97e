"""Incremental, exactly-once ingestion of documents from a landing folder."""
