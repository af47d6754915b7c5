"""Vector search: exact nearest neighbours over streamed batches, and the approximate index.

``distance.py`` says what near means, ``arrays.py`` turns Arrow embedding columns into
matrices (refusing NULL, empty and ragged vectors), ``nearest.py`` keeps the exact top k of
each query while base rows stream past, ``ann.py`` wraps the HNSW graph of usearch, and
``results.py`` lays matches out as BigQuery's ``VECTOR_SEARCH`` returns them.
"""
