"""Build the retrieval index from the ingested documents and record the run."""
