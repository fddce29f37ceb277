"""What /proc/PID/task/TID/syscall shows and the call decoded from it (procfs.syscall parses)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class CallKind(Enum):
    IN_SYSCALL = "in syscall"
    RUNNING = "running"  # on a CPU right now: the kernel prints "running"
    NOT_IN_SYSCALL = "not in syscall"  # blocked (e.g. stopped) in userspace: "-1 sp pc"
    NO_CONTEXT = "no user context"  # "-1 0x0 0x0": a zombie or an exiting task


@dataclass(frozen=True, slots=True)
class SyscallLine:
    kind: CallKind
    nr: int | None = None
    args: tuple[int, ...] = ()  # six raw registers
    sp: int | None = None
    pc: int | None = None

    @property
    def all_zero(self) -> bool:
        """What a kernel thread shows ('0 0x0 ...'): looks like read(0), means nothing
        (docs/kernel-notes.md §10.3)."""
        return self.nr == 0 and not any(self.args) and not self.sp and not self.pc


@dataclass(frozen=True, slots=True)
class DecodedCall:
    nr: int
    name: str | None  # None: number not in the table of the target's ABI (or no table)
    abi: str
    fds: tuple[int, ...]  # fd arguments in display order
    extra: tuple[str, ...]  # the other arguments, described
    restarted: bool = False  # restart_syscall: the original call is hidden (docs/kernel-notes.md §1.3)
    waits_for_signal: bool = False

    def text(self, fd_targets: dict[int, str] | None = None) -> str:
        """'write(2 -> pipe:[5210641], 1 bytes)'; unknown calls show the raw number."""
        if self.restarted:
            return "restart_syscall (restarted call: the original syscall is hidden)"
        if self.name is None:
            return f"syscall {self.nr} ({self.abi})"
        targets = fd_targets or {}
        shown = [f"{fd} -> {targets[fd]}" if fd in targets else str(fd) for fd in self.fds]
        return f"{self.name}({', '.join([*shown, *self.extra])})"
