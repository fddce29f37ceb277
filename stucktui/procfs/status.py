"""Parser of /proc/PID/status and /proc/PID/task/TID/status (proc(5))."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Status:
    name: str
    state: str
    tgid: int
    pid: int
    ppid: int
    tracer_pid: int
    uids: tuple[int, int, int, int]  # real, effective, saved, filesystem
    gids: tuple[int, int, int, int]
    threads: int
    nspid: tuple[int, ...]  # pid at each pid-namespace level, outermost first
    kthread: bool | None  # the Kthread: line exists on newer kernels only
    # Signal masks as integers: bit n-1 is signal n (docs/kernel-notes.md §5).
    sig_pnd: int
    shd_pnd: int
    sig_blk: int
    sig_ign: int
    sig_cgt: int
    sigq: tuple[int, int] | None  # queued for this *user* / RLIMIT_SIGPENDING
    vm_rss_kb: int | None
    voluntary_ctxt_switches: int | None
    nonvoluntary_ctxt_switches: int | None

    @property
    def uid(self) -> int:
        return self.uids[1]


def _ints(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split())


def parse_status(text: str) -> Status:
    kv: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            kv[k] = v.strip()

    def num(key: str, default: int = 0) -> int:
        v = kv.get(key)
        return int(v.split()[0]) if v else default

    def opt(key: str) -> int | None:
        v = kv.get(key)
        return int(v.split()[0]) if v else None

    def mask(key: str) -> int:
        v = kv.get(key)
        return int(v, 16) if v else 0

    uids = _ints(kv.get("Uid", "-1 -1 -1 -1")) + (-1,) * 4
    gids = _ints(kv.get("Gid", "-1 -1 -1 -1")) + (-1,) * 4
    sigq = None
    if "SigQ" in kv:
        a, _, b = kv["SigQ"].partition("/")
        sigq = (int(a), int(b))
    kth = kv.get("Kthread")
    return Status(
        name=kv.get("Name", ""),
        state=kv.get("State", "?")[:1],
        tgid=num("Tgid"),
        pid=num("Pid"),
        ppid=num("PPid"),
        tracer_pid=num("TracerPid"),
        uids=(uids[0], uids[1], uids[2], uids[3]),
        gids=(gids[0], gids[1], gids[2], gids[3]),
        threads=num("Threads", 1),
        nspid=_ints(kv.get("NSpid", "")),
        kthread=None if kth is None else kth == "1",
        sig_pnd=mask("SigPnd"),
        shd_pnd=mask("ShdPnd"),
        sig_blk=mask("SigBlk"),
        sig_ign=mask("SigIgn"),
        sig_cgt=mask("SigCgt"),
        sigq=sigq,
        vm_rss_kb=opt("VmRSS"),
        voluntary_ctxt_switches=opt("voluntary_ctxt_switches"),
        nonvoluntary_ctxt_switches=opt("nonvoluntary_ctxt_switches"),
    )
