"""The meters over the process list, as htop's: CPU per core, memory, swap, tasks, load.

Drawn from BoxMeters (stucktui.model.meters) that the box lane read; the widget reads nothing.
A few cores get a bar each on one line; many get one block character each (▁ to █)."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Static

from stucktui.model.meters import BoxMeters
from stucktui.model.text import human_bytes

_CELL = 18  # the narrowest CPU bar: '12[|||||  100.0%]'
_BAR_ROWS = 2  # lines of CPU bars at most; more cores than fit get a block character each
_BLOCKS = "▁▂▃▄▅▆▇█"


def _level(pct: float) -> str:
    return "bold red" if pct >= 90 else "yellow" if pct >= 60 else "green"


def bar(label: str, frac: float, value: str, width: int, style: str) -> Text:
    """htop's meter: label[|||||     value], `width` cells in all."""
    inner = max(len(value) + 1, width - len(label) - 2)
    filled = min(inner, round(max(0.0, min(1.0, frac)) * inner))
    free = inner - len(value)
    t = Text(no_wrap=True, end="")
    t.append(label, style="bold cyan")
    t.append("[")
    t.append("|" * min(filled, free), style=style)
    t.append(" " * (free - min(filled, free)))
    t.append(value, style="dim" if frac < 0.6 else "bold")
    t.append("]")
    return t


def _cpu_lines(cpu: tuple[float, ...], width: int) -> list[Text]:
    n = len(cpu)
    per_row = max(1, width // _CELL)
    if (n + per_row - 1) // per_row <= _BAR_ROWS:
        per_row = min(per_row, n) if n <= per_row else (n + _BAR_ROWS - 1) // _BAR_ROWS
        cell = width // per_row
        digits = len(str(n - 1))
        lines = []
        for start in range(0, n, per_row):
            t = Text(no_wrap=True, end="")
            for i in range(start, min(n, start + per_row)):
                pct = cpu[i]
                t.append_text(bar(f"{i:>{digits}}", pct / 100, f"{pct:.1f}%", cell - 1, _level(pct)))
                t.append(" ")
            lines.append(t)
        return lines
    avg = sum(cpu) / n
    t = Text(f"CPU avg {avg:.0f}% · {sum(p >= 90 for p in cpu)} of {n} cores over 90%  ", style="bold")
    for pct in cpu:
        t.append(_BLOCKS[min(len(_BLOCKS) - 1, int(pct / 100 * len(_BLOCKS)))], style=_level(pct))
    t.no_wrap = False
    return [t]


def meters_text(m: BoxMeters, width: int) -> Text:
    width = max(40, width)
    lines = (
        _cpu_lines(m.cpu, width)
        if m.cpu
        else [Text("CPU: measuring (per core from the next refresh)", style="dim")]
    )
    half = width // 2 - 1
    mem = Text(no_wrap=True, end="")
    used = m.mem_used / m.mem_total if m.mem_total else 0.0
    mem.append_text(
        bar("Mem", used, f"{human_bytes(m.mem_used)}/{human_bytes(m.mem_total)}", half, _level(used * 100))
    )
    mem.append(" ")
    if m.swap_total:
        sw = (m.swap_used or 0) / m.swap_total
        text = f"{human_bytes(m.swap_used or 0)}/{human_bytes(m.swap_total)}"
        mem.append_text(bar("Swp", sw, text, half, _level(sw * 100)))
    else:
        mem.append("Swp: none" if m.swap_total == 0 else "", style="dim")
    lines.append(mem)
    k = m.tasks
    tasks = Text(no_wrap=True, end="")
    tasks.append("Tasks: ", style="bold cyan")
    tasks.append(f"{k.processes:,}, {k.threads:,} thr, {k.kernel_threads:,} kthr; ")
    tasks.append(f"{k.running:,} running", style="bold green" if k.running else "")
    if m.load is not None:
        tasks.append("   Load average: ", style="bold cyan")
        tasks.append(" ".join(f"{x:.2f}" for x in m.load))
    lines.append(tasks)
    return Text("\n").join(lines)


class MetersBar(Static):
    """Hidden until meters come (none for a /proc psutil cannot read)."""

    DEFAULT_CSS = """
    MetersBar {
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(self, **kw: object) -> None:
        super().__init__("", **kw)  # type: ignore[arg-type]
        self.meters: BoxMeters | None = None
        self.display = False  # (not in on_mount: meters shown before it ran would be hidden)
        self._height = -1  # lines of the text shown: a new text as tall needs no layout

    def show(self, meters: BoxMeters | None) -> None:
        self.meters = meters
        self.display = meters is not None
        self._draw()

    def on_resize(self, _: events.Resize) -> None:
        self._draw()

    def _draw(self) -> None:
        if self.meters is not None:
            text = meters_text(self.meters, self.content_region.width or self.app.size.width - 2)
            height = text.plain.count("\n")
            # a layout of the whole screen costs more than the rest of a refresh's repaint
            self.update(text, layout=height != self._height)
            self._height = height
