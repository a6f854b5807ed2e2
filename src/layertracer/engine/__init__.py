"""Running the model fast and right: batches, suffix replay, batch sizes, processes."""
