"""Tables (tab-separated rows) -> records.

Owns the table rules of the plan documents: multi-row headers with merged (blank) cells, row labels
spread over several leading cells with blanks meaning "same as above", value columns aligned to the
header from the left, unit captions ("(단위 : 백만원)"), text tables whose cells hold whole lists,
and key/value tables without a header. Every record carries its headers and its row label, so that a
single row ("2022년: 147개소") can answer a question on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import cell_lines, clean_inline

_VALUE = re.compile(r"^([-–—]|[~∼]?\s?[\d.,]+.*|[\d]+)$")
_LONG_CELL = 60


@dataclass(frozen=True, slots=True)
class Record:
    """One table row turned into text. ``lines`` is the text; ``label`` the row label."""

    label: str
    lines: tuple[str, ...]
    line_start: int
    line_end: int
    structured: bool  # True: "header: value" record; False: a text row (label + list items)


def is_table_line(line: str) -> bool:
    s = line.strip("\n")
    if "\t" in s.strip(" "):
        return True
    st = s.strip()
    return st.startswith("|") and st.endswith("|") and st.count("|") >= 3


def split_row(line: str) -> list[str] | None:
    """Cells of one row; None for a markdown separator row (|---|---|)."""
    st = line.strip()
    if st.startswith("|") and st.endswith("|") and "\t" not in st:
        inner = st[1:-1]
        if set(inner) <= set("-:| "):
            return None
        return [c.strip() for c in inner.split("|")]
    return [c.strip() for c in line.rstrip("\n").split("\t")]


def _is_value(cell: str) -> bool:
    return bool(_VALUE.match(cell)) if cell else False


def _is_long(cells: list[str]) -> bool:
    return any(len(c) > _LONG_CELL or "<li" in c or "<ul" in c for c in cells)


def _nonempty(cells: list[str]) -> int:
    return sum(1 for c in cells if c)


def _combine_headers(rows: list[list[str]], width: int) -> list[str]:
    """Column headers from one or more header rows; blank cells of upper rows are merged cells."""
    combined = ["" for _ in range(width)]
    for r, row in enumerate(rows):
        filled = list(row) + [""] * (width - len(row))
        if r < len(rows) - 1:  # upper row: a blank cell continues the merged cell on its left
            last = ""
            for j in range(width):
                if filled[j]:
                    last = filled[j]
                elif j > 0 and rows[r + 1 :] and any(
                    j < len(lower) and lower[j] for lower in rows[r + 1 :]
                ):
                    filled[j] = last
        for j in range(width):
            if filled[j] and filled[j] not in combined[j]:
                combined[j] = f"{combined[j]} {filled[j]}".strip()
    return combined


def table_records(
    raw_rows: list[tuple[int, list[str]]], caption: str = ""
) -> tuple[list[Record], list[Record]]:
    """Turn rows (line number, raw cells) into (row records, column records)."""
    rows = [(ln, [clean_inline(c) if "<li" not in c and "<ul" not in c else c for c in cells])
            for ln, cells in raw_rows]
    rows = [(ln, cells) for ln, cells in rows if _nonempty(cells)]
    if not rows:
        return [], []
    width = max(len(c) for _, c in rows)
    suffix = f" ({caption})" if caption else ""

    # Key/value table without a header: every row has two short cells.
    if all(_nonempty(c) == 2 and not _is_long(c) for _, c in rows) and width <= 3 and len(rows) >= 2:
        kv_lines: list[str] = []
        for _, cells in rows:
            key, val = [c for c in cells if c][:2]
            kv_lines.append(f"{key}: {val}")
        return [Record("", tuple(kv_lines), rows[0][0], rows[-1][0], True)], []

    # Title rows: one cell spanning a wide table ("기획조정실" over the org chart).
    while len(rows) > 2 and _nonempty(rows[0][1]) == 1 and width >= 3 and not _is_long(rows[0][1]):
        title = next(c for c in rows[0][1] if c)
        caption = f"{caption} {title}".strip()
        rows = rows[1:]
    suffix = f" ({caption})" if caption else ""

    header_rows: list[list[str]] = []
    first = rows[0][1]
    if not _is_long(first) and _nonempty(first) >= 2 and not all(_is_value(c) for c in first if c):
        header_rows.append(first)
        i = 1
        # Continuation header rows: first cell blank, short, no bare numbers ("| 교통관제 | ...").
        while i < len(rows):
            cells = rows[i][1]
            if (not cells[0] and not _is_long(cells)
                    and not any(re.fullmatch(r"[\d,.]+", c) for c in cells if c)
                    and i + 1 < len(rows)):
                header_rows.append(cells)
                i += 1
            else:
                break
        body = rows[i:]
    else:
        body = rows
    headers = _combine_headers(header_rows, width) if header_rows else [""] * width

    records: list[Record] = []
    columns: list[Record] = []

    # Pure text grid (org chart): emit one record per column as well as none per row.
    if header_rows and len(body) >= 2 and all(
        not _is_long(c) and not any(_is_value(x) for x in c) for _, c in body
    ):
        for j, h in enumerate(headers):
            vals = [c[j] for _, c in body if j < len(c) and c[j]]
            if h and vals:
                columns.append(Record(h, (f"{h}: {', '.join(vals)}{suffix}",), rows[0][0], body[-1][0], True))
        if columns:
            return [], columns

    prev_labels: list[str] = []
    reference: list[str] | None = None  # first structured data row, for label alignment
    for row_no, (ln, cells) in enumerate(body):
        cells = list(cells) + [""] * (width - len(cells))
        # A mid-table header row: short, no digits at all, followed by a row with digits.
        if (row_no + 1 < len(body) and not _is_long(cells) and _nonempty(cells) >= 2
                and not any(re.search(r"\d", c) for c in cells)
                and any(re.search(r"\d", c) for c in body[row_no + 1][1])):
            headers = _combine_headers([cells], width)
            prev_labels, reference = [], None
            continue
        if _is_long(cells):
            label_parts = [clean_inline(c) for c in cells[:1] if c]
            if not label_parts and prev_labels:
                label_parts = prev_labels[:1]
            label = " ".join(label_parts)
            lines: list[str] = []
            for j, c in enumerate(cells[1:] if label_parts and cells[0] else cells, start=1):
                if not c:
                    continue
                col_lines = cell_lines(c)
                h = headers[j] if j < len(headers) and headers[j] and len(cells) > 2 else ""
                if h and col_lines and len(col_lines) == 1:
                    col_lines = [f"{h}: {col_lines[0]}"]
                lines.extend(col_lines)
            if cells[0]:
                prev_labels = [label]
            if lines:
                records.append(Record(label, tuple(lines), ln, ln, False))
            continue
        # Structured row: leading label cells, then values aligned with the value headers.
        n_label = 0
        while n_label < len(cells) and not _is_value(cells[n_label]):
            if n_label > 0 and cells[n_label] and headers[n_label] and not (
                reference is not None and n_label < len(reference) and _is_value(reference[n_label])
            ):
                break
            n_label += 1
        if n_label == len(cells):  # no value at all: a text row of short cells
            n_label = 1 if cells[0] else 0
        labels = cells[:n_label]
        for j, lab in enumerate(labels):
            if not lab and j < len(prev_labels):
                labels[j] = prev_labels[j]
        if any(labels):
            prev_labels = labels
        if reference is None:
            reference = cells
        h_label = 0
        while h_label < len(reference) and not _is_value(reference[h_label]):
            h_label += 1
        value_headers = headers[h_label:] if n_label >= h_label else headers[n_label:]
        values = cells[n_label:]
        pairs = []
        for j, v in enumerate(values):
            if not v:
                continue
            h = value_headers[j] if j < len(value_headers) else ""
            pairs.append(f"{h}: {v}" if h else v)
        label = " ".join(x for x in labels if x)
        if not pairs:
            continue
        text = (f"{label} — " if label else "") + ", ".join(pairs) + suffix
        records.append(Record(label, (text,), ln, ln, True))
    return records, columns
