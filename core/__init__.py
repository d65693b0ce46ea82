"""Site-wide plumbing that needs a model: the record of what workers did (probes of the task pipeline)."""
