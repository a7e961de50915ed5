"""Request and response models: every field bounded."""
