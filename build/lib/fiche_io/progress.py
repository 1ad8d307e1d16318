"""Progress on stderr (stdout keeps only results), shown only where someone is there to see it."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def with_progress(items: Iterable[Any], description: str, shown: bool = True) -> Iterator[Any]:
    """`items` with a rich progress bar on stderr, when `shown`."""
    if not shown:
        return iter(items)
    from rich.console import Console
    from rich.progress import track

    return iter(track(items, description=description, console=Console(stderr=True), transient=True))


def progress_bar(label: str, *, shown: bool = True, status: bool = True) -> Any:
    """A rich Progress on stderr with a bar, done/total, an optional status field and the elapsed time."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    if status:
        columns.append(TextColumn("{task.fields[status]}"))
    return Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), disable=not shown, transient=False)
