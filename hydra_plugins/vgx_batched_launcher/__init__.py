"""vgx's batched launcher: `hydra/launcher=batched`."""
