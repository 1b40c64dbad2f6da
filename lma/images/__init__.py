"""Image embedding and generation: the synthetic scene set, a small CLIP dual encoder and the
``ClipBackend`` protocol (:mod:`lma.images.clip`), its training, and unCLIP-style generation.

Nothing here is imported by ``lma`` itself: torch loads only when a model is built or trained.
"""
