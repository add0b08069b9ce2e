"""Knowledge: ingest -> chunk -> embed -> index (FAISS + Korean BM25) -> hybrid retrieve -> rerank
-> grounded answer with citations. A leaf package: it imports nothing else of this project."""
