"""Choose the torch device once, at start, and fail fast when the one asked for is absent."""

import torch


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"RNNSERVE_DEVICE={requested} but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"RNNSERVE_DEVICE={requested} but only {torch.cuda.device_count()} CUDA devices exist"
            )
    return device
