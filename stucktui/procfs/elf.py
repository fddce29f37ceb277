"""The target's ABI: from its auxiliary vector (/proc/PID/auxv), or the first bytes of an ELF
header, per elf(5).

The auxiliary vector is what the kernel handed the program at exec, kept in the kernel and
written in the program's own word size: pairs of 64-bit words for a 64-bit program, of 32-bit
words for a 32-bit one on a 64-bit kernel. Reading it touches no file. Reading the header of
/proc/PID/exe would open the binary on its file system, which may be a hung FUSE or network
mount (docs/kernel-notes.md §1.5, §10.5).
"""

from __future__ import annotations

import platform
import struct
from dataclasses import dataclass

ELF_MAGIC = b"\x7fELF"
HEADER_BYTES = 20  # e_ident (16) + e_type (2) + e_machine (2)

# e_machine values from elf(5) / include/uapi/linux/elf-em.h
_MACHINES = {0x03: "i386", 0x3E: "x86_64", 0xB7: "aarch64", 0x28: "arm"}
_CLASSES = {1: 32, 2: 64}  # e_ident[EI_CLASS]: ELFCLASS32, ELFCLASS64


@dataclass(frozen=True, slots=True)
class ElfAbi:
    bits: int  # 32 or 64
    machine: int  # e_machine
    abi: str  # 'x86_64', 'i386', 'aarch64', 'arm' or 'e_machine 0x..'


def parse_elf_abi(head: bytes) -> ElfAbi:
    """Raises ValueError when the bytes are not the start of an ELF file."""
    if len(head) < HEADER_BYTES or head[:4] != ELF_MAGIC:
        raise ValueError("not an ELF header")
    bits = _CLASSES.get(head[4])
    if bits is None:
        raise ValueError(f"unknown ELF class {head[4]}")
    little = head[5] == 1  # e_ident[EI_DATA]: ELFDATA2LSB = 1
    machine = int.from_bytes(head[18:20], "little" if little else "big")
    return ElfAbi(bits, machine, _MACHINES.get(machine, f"e_machine {machine:#x}"))


AT_NULL, AT_PAGESZ, AT_BASE = 0, 6, 7  # include/uapi/linux/auxvec.h
_AT_LIMIT = 64  # every AT_* type the kernel writes is below this (AT_MINSIGSTKSZ is 51)
_COMPAT = {"x86_64": "i386", "aarch64": "arm"}  # the 32-bit ABI a 64-bit kernel runs


def _pairs(data: bytes, word: str) -> dict[int, int] | None:
    pair = struct.Struct("=" + word * 2)
    out: dict[int, int] = {}
    for off in range(0, len(data) - pair.size + 1, pair.size):
        kind, value = pair.unpack_from(data, off)
        if kind == AT_NULL:
            page = out.get(AT_PAGESZ, 0)
            # the page size is always there, a power of two: a vector read in the wrong
            # word size scrambles it
            return out if page >= 4096 and page & (page - 1) == 0 else None
        if kind >= _AT_LIMIT:
            return None
        out[kind] = value
    return None


def parse_auxv(data: bytes) -> tuple[int, dict[int, int]]:
    """(word size in bits, AT_* type -> value) of /proc/PID/auxv. Raises ValueError when it
    reads as neither 64-bit nor 32-bit pairs (empty for a kernel thread or a zombie)."""
    for bits, word in ((64, "Q"), (32, "I")):
        found = _pairs(data, word)
        if found is not None:
            return bits, found
    raise ValueError("not an auxiliary vector")


def auxv_abi(data: bytes, kernel: str | None = None) -> str:
    """The ABI of a process from its auxiliary vector: the kernel's, or on a 64-bit kernel
    its 32-bit one for a program whose vector has 32-bit words (i386 beside x86_64, arm
    beside aarch64; x32 programs are taken for i386). Raises ValueError."""
    kernel = kernel or kernel_abi()
    bits, _ = parse_auxv(data)
    return _COMPAT.get(kernel, kernel) if bits == 32 else kernel


def auxv_interpreter(data: bytes) -> bool:
    """True when the kernel loaded a dynamic loader for the program (AT_BASE, its load address,
    is not 0): what a PT_INTERP header says. Raises ValueError."""
    return parse_auxv(data)[1].get(AT_BASE, 0) != 0


def kernel_abi() -> str:
    """The running kernel's native ABI, the fallback when /proc/PID/auxv can't be read."""
    m = platform.machine()
    return {"arm64": "aarch64", "amd64": "x86_64"}.get(m, m)
