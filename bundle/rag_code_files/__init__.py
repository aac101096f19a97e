"""Retrieval-augmented generation core: chunking, embedding, vector index, retrieval, answers."""
