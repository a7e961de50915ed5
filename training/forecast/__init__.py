"""The forecast trainer: its presets and flags (config), data (data, synthetic), training (train) and
held-out evaluation (evaluate). The rules it shares with serving live in forecasting/."""
