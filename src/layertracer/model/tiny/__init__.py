"""Tiny random models of any ``model_type`` (``tiny:<model_type>``)."""
