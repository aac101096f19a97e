"""my_mlops_project_luv_v6: question answering over a document collection (RAG) with its MLOps jobs."""
