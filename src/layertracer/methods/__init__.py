"""The analyses: particles, vulnerability, CKA, ablation, causal tracing, agreement."""
