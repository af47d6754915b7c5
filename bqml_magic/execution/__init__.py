"""Running translated statements on DuckDB: the engine's services, one statement's execution,
the streams and functions DuckDB calls back into, and the handler of each statement kind."""
