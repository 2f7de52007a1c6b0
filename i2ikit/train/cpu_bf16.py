"""Whether this CPU computes bf16 in hardware: without it, bf16 autocast on the CPU is many times slower.

PyTorch's CPU bf16 kernels are fast on cores with AVX512-BF16 or AMX-BF16 instructions; elsewhere
(AVX2 cores such as AMD Zen 3 or most laptops) each bf16 op is emulated: the quick-start FUNIT ran
at 20 s per iteration in bf16 against 0.7 s in fp32 on a Zen 3 EPYC. The trainer warns instead of
letting a run silently take thirty times as long.
"""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["cpu_has_native_bf16", "slow_bf16_warning"]

_NATIVE_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool | None:
    """True/False from the CPU flags in ``/proc/cpuinfo`` (or the text given); None where unknown (not Linux)."""
    if cpuinfo is None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return None
    flags = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    if not flags:
        return None
    return any(f in flags for f in _NATIVE_FLAGS)


def slow_bf16_warning(device_type: str, mixed_precision: str, cpuinfo: str | None = None) -> str | None:
    """The sentence to print when a CPU run asks for bf16 that this CPU does not have, else None."""
    if device_type != "cpu" or mixed_precision != "bf16" or cpu_has_native_bf16(cpuinfo) is not False:
        return None
    return ("warning: train.mixed_precision is bf16 on a CPU without bf16 instructions (no avx512_bf16 or amx_bf16 "
            "in /proc/cpuinfo): PyTorch emulates bf16 here, which is many times slower than fp32. Set "
            "train.mixed_precision=no (or leave it out) unless you are checking bf16 numerics.")
