"""Linear CKA between layers: the estimators and the streamed collection."""
