"""Forecasting rules shared by serving, training and the benchmarks: season, statistical methods, the method
choice, intervals and metrics. Imports models/ only, never service/ or training/."""
