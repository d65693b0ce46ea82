"""Settings modules: base (from the environment; the default) and test."""
