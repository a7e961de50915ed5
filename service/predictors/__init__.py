"""One predictor per task: preprocess -> forward (batched) -> postprocess."""
