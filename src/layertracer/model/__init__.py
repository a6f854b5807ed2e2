"""The model side: loading, anatomy found by structure, hooks, the logit lens, sites."""
