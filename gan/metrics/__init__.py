"""Metrics computed during training (Inception Score, FID and download-free extras)."""
