"""Training: data cache and crops, the rate-distortion loop, checkpoints, export."""
