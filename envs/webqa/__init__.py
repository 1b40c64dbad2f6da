"""WebQA: multi-hop, multimodal web question answering (environment and official metrics)."""
