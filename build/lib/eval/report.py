"""The report as data (sections of paragraphs, tables and figures), rendered to markdown and to HTML.

Both renderings come from the same blocks, so they always carry the same numbers.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the report's folder
    caption: str


@dataclass(frozen=True)
class Picture:
    path: str  # relative to the report's folder
    alt: str


@dataclass(frozen=True)
class PictureTable:
    """A table whose cells are text or pictures (a view beside renders, one row per item)."""
    headers: list[str]
    rows: list[list[str | Picture]]


Block = Paragraph | Table | Figure | PictureTable


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Section:
        self.blocks.extend(blocks)
        return self


@dataclass
class Report:
    title: str
    sections: list[Section] = field(default_factory=list)


def rate(count: int, total: int) -> str:
    """«87.5 % (7/8)»; «n/a (0/0)» when there is nothing to count."""
    return f"{100 * count / total:.1f} % ({count}/{total})" if total else "n/a (0/0)"


def rate_of(entry: dict) -> str:
    """`rate` of a {"count", "total"} entry, as `eval.tasks.base.fraction` stores it in metrics.json."""
    return rate(entry["count"], entry["total"])


def percent(value: float | None) -> str:
    """A fraction as «71.4 %»; «n/a» when undefined."""
    return "n/a" if value is None else f"{100 * value:.1f} %"


def number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_picture(picture: Picture) -> str:
    return f"![{_md_cell(picture.alt).replace(']', ' ')}]({picture.path})"


def to_markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Paragraph):
                lines += [block.text, ""]
            elif isinstance(block, (Table, PictureTable)):
                lines.append("| " + " | ".join(_md_cell(h) for h in block.headers) + " |")
                lines.append("|" + "|".join("---" for _ in block.headers) + "|")
                lines += ["| " + " | ".join(_md_picture(c) if isinstance(c, Picture) else _md_cell(c) for c in row)
                          + " |" for row in block.rows]
                lines.append("")
            else:
                lines += [f"![{block.caption}]({block.path})", "", f"*{block.caption}*", ""]
    return "\n".join(lines)


_STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
          "table{border-collapse:collapse;margin:0.5rem 0 1rem}th,td{border:1px solid #bbb;padding:0.25rem 0.6rem;"
          "text-align:left;vertical-align:top}th{background:#eee}figure{margin:1rem 0}img{max-width:100%}"
          "figcaption{color:#555}table.pictures img{display:block;width:220px}")


def to_html(report: Report) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(report.title)}</title>",
             f"<style>{_STYLE}</style></head><body>", f"<h1>{e(report.title)}</h1>"]
    for section in report.sections:
        parts.append(f"<h2>{e(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Paragraph):
                parts.append(f"<p>{e(block.text)}</p>")
            elif isinstance(block, Table):
                head = "".join(f"<th>{e(h)}</th>" for h in block.headers)
                body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in block.rows)
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif isinstance(block, PictureTable):
                head = "".join(f"<th>{e(h)}</th>" for h in block.headers)
                body = "".join("<tr>" + "".join(
                    f'<td><img src="{e(c.path)}" alt="{e(c.alt)}"></td>' if isinstance(c, Picture) else f"<td>{e(c)}</td>"
                    for c in row) + "</tr>" for row in block.rows)
                parts.append(f'<table class="pictures"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
            else:
                parts.append(f'<figure><img src="{e(block.path)}" alt="{e(block.caption)}">'
                             f"<figcaption>{e(block.caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)
