"""Training planners on recorded runs: examples from trajectories, LoRA/full fine-tuning, GGUF export."""
