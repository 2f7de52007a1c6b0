"""The warning for bf16 training on a CPU that emulates bf16 (i2ikit.train.cpu_bf16)."""
from __future__ import annotations

from i2ikit.train.cpu_bf16 import cpu_has_native_bf16, slow_bf16_warning

ZEN3 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 avx avx2 fma\n"
ZEN4 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
SAPPHIRE_RAPIDS = "flags\t\t: avx2 avx512f amx_bf16 amx_tile\n"


def test_native_bf16_is_read_from_the_cpu_flags() -> None:
    assert cpu_has_native_bf16(ZEN3) is False
    assert cpu_has_native_bf16(ZEN4) is True and cpu_has_native_bf16(SAPPHIRE_RAPIDS) is True
    assert cpu_has_native_bf16("model name : something\n") is None  # no flags line: unknown, no warning
    assert isinstance(cpu_has_native_bf16(), (bool, type(None)))  # this machine's own file parses


def test_only_cpu_bf16_without_the_instructions_warns() -> None:
    text = slow_bf16_warning("cpu", "bf16", ZEN3)
    assert text and "train.mixed_precision=no" in text and "avx512_bf16" in text
    assert slow_bf16_warning("cpu", "bf16", ZEN4) is None
    assert slow_bf16_warning("cpu", "no", ZEN3) is None and slow_bf16_warning("cuda", "bf16", ZEN3) is None
    assert slow_bf16_warning("cpu", "bf16", "") is None
