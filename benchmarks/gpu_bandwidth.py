"""The device's measured copy bandwidth and the batch-1 decode bound it implies for a model.

A decode step at batch 1 reads every weight once, so no decoder can beat
``bandwidth / weight bytes`` tokens/s at one request; serving figures are judged against it. The
bandwidth is that of one large device-to-device copy (``torch`` ``copy_``), counting bytes read and
written, the best of ``--repeats`` after a warm-up. The model is the random 1.24B Llama of
``serve_throughput.py --gpu`` (bf16) unless ``--params`` gives another parameter count; the KV cache
the step also reads (about 21 MB at 640 tokens for that model) is left out.

    python3 benchmarks/gpu_bandwidth.py            # CUDA when available, else the CPU
"""

from __future__ import annotations

import argparse
import time


def copy_bandwidth(device: str, gib: float, repeats: int) -> float:
    """Bytes read + written per second by one device-to-device copy of ``gib`` GiB."""
    import torch

    n = int(gib * 2**30) // 2
    src, dst = torch.empty(n, dtype=torch.bfloat16, device=device), torch.empty(n, dtype=torch.bfloat16, device=device)
    src.fill_(1.0)
    best = float("inf")
    for i in range(repeats + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        dst.copy_(src)
        if device == "cuda":
            torch.cuda.synchronize()
        if i:  # the first copy is the warm-up
            best = min(best, time.perf_counter() - start)
    return 2 * n * 2 / best


def gpu_config_params() -> int:
    """Parameters of serve_throughput.py's GPU Llama, counted on the meta device (no memory)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from serve_throughput import GPU_CONFIG

    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(**GPU_CONFIG))
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gib", type=float, default=4.0, help="size of the copied buffer (GiB; 0.25 is plenty on a CPU)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--params", type=float, help="parameter count of the model (default: the 1.24B Llama)")
    p.add_argument("--bytes-per-param", type=float, default=2.0, help="2 for bf16")
    args = p.parse_args()

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    bandwidth = copy_bandwidth(device, args.gib, args.repeats)
    params = int(args.params) if args.params else gpu_config_params()
    weights = params * args.bytes_per_param
    print(f"{name}: copy bandwidth {bandwidth / 1e9:,.0f} GB/s (read + written, {args.gib:g} GiB copy, "
          f"best of {args.repeats}); {params / 1e9:.2f}B parameters x {args.bytes_per_param:g} bytes = "
          f"{weights / 1e9:.2f} GB of weights -> batch-1 decode bound {bandwidth / weights:,.0f} tok/s", flush=True)


if __name__ == "__main__":
    main()
