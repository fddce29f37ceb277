"""The target's ABI from the first bytes of its ELF header (/proc/PID/exe), per elf(5)."""

from __future__ import annotations

import platform
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


def kernel_abi() -> str:
    """The running kernel's native ABI, the fallback when /proc/PID/exe can't be read."""
    m = platform.machine()
    return {"arm64": "aarch64", "amd64": "x86_64"}.get(m, m)
