"""The image work of a query on a Ray cluster (``Engine(ray_address=...)``): Ray Data runs it.

DuckDB stays on the driver: it lists object tables, filters, joins and reads the results.
The rows it hands over (object references and the ML.* functions' arguments, never object
bytes) go to the cluster as Arrow blocks; an actor pool reads the objects, computes the ML.*
image functions and runs the model there, each actor loading it once; results stream back
in order and DuckDB reads them as they arrive (docs/behaviour.md#ray). Ray is imported only
here, and only when an engine is given a cluster.
"""
