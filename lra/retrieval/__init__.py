"""The retrieval family (workflow/rules/retrieval.smk): FAISS indexes and k-nearest-neighbour
search on arrays (`knn`), and the index and neighbors stages on files (`stage`)."""
