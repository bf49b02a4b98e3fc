"""Writes a figures document (docs/performance.md, docs/reliability.md) from one run's figures.

    python3 scripts/report/render.py --figures FIGURES.jsonl --template TEMPLATE.md \
        --output docs/performance.md --command "bash scripts/bench.sh" [--started EPOCH] \
        [--param NAME=VALUE ...] [--columns figure,result,baseline,ratio,target=target]

FIGURES holds one JSON object a line, appended by the benches and tools while they run:
`{"table", "figure", "result", "baseline"?, "ratio"?, "target"?, "met"?}` is a row of the table
named `table` (tables keep the order in which they first appear), `{"table", "note"}` a sentence
under it. The template's `{{header}}` becomes the run's header (when, which commit, on what
machine, with which sizes) and `{{tables}}` the tables; everything else in it is the prose that
stays true from run to run. The output is replaced whole, so a rerun leaves no old figure.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADINGS = {"figure": "figure", "result": "result", "baseline": "baseline (same run)",
            "ratio": "ratio", "target": "target"}


def read_figures(lines):
    """The JSON lines, in order; a line that is not a JSON object is an error."""
    figures = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        figure = json.loads(line)
        if not isinstance(figure, dict) or "table" not in figure:
            raise ValueError(f"line {number}: not a figure: {line.strip()}")
        figures.append(figure)
    return figures


def group(figures):
    """{table: {"rows": [...], "notes": [...]}} in the order tables first appear."""
    tables = {}
    for figure in figures:
        table = tables.setdefault(figure["table"], {"rows": [], "notes": []})
        if "note" in figure:
            table["notes"].append(figure["note"])
        else:
            table["rows"].append(figure)
    return tables


def cell(text):
    """One table cell: no line breaks, pipes escaped, empty shown as a dash."""
    text = " ".join(str(text).split())
    return text.replace("|", "\\|") if text else "—"


def ratio_cell(ratio):
    if ratio is None:
        return "—"
    return f"{ratio:.3f}" if abs(ratio) < 0.1 else f"{ratio:.2f}"


def target_cell(row):
    target = row.get("target")
    if not target:
        return "—"
    if "met" not in row:
        return target
    return f"{target} — met" if row["met"] else f"{target} — **not met**"


def row_cells(row, columns):
    values = {"figure": row.get("figure", ""), "result": row.get("result", ""),
              "baseline": row.get("baseline", ""), "ratio": ratio_cell(row.get("ratio")),
              "target": target_cell(row)}
    return [cell(values[name]) for name, _ in columns]


def table_markdown(title, table, columns):
    lines = [f"### {title}", ""]
    if table["rows"]:
        lines.append("| " + " | ".join(heading for _, heading in columns) + " |")
        lines.append("|" + "---|" * len(columns))
        lines += ["| " + " | ".join(row_cells(row, columns)) + " |" for row in table["rows"]]
        lines.append("")
    lines += table["notes"] + ([""] if table["notes"] else [])
    return "\n".join(lines)


def tables_markdown(figures, columns):
    tables = group(figures)
    if not tables:
        return "No figures were recorded in this run.\n"
    return "\n".join(table_markdown(title, table, columns) for title, table in tables.items())


def parse_columns(spec):
    """`figure,result,target=pass criterion` as [(name, heading)]."""
    columns = []
    for item in spec.split(","):
        name, _, heading = item.partition("=")
        if name not in HEADINGS:
            raise ValueError(f"unknown column {name!r}; columns are {', '.join(HEADINGS)}")
        columns.append((name, heading or HEADINGS[name]))
    return columns


def machine():
    """What the figures were measured on."""
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    cargo = subprocess.run(["cargo", "--version"], capture_output=True, text=True, check=False)
    uname = platform.uname()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": f"{kib / 1048576:.1f} GiB",
            "kernel": f"{uname.system} {uname.release}",
            "cargo": cargo.stdout.strip() or "cargo not found",
            "descriptors": f"{soft:,} (hard limit {hard:,})"}


def commit(root, output):
    """`git rev-parse --short HEAD`, with `-dirty` when the tree differs from it (the document
    being written does not count)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD")
    exclude = f":(exclude){Path(output).resolve().relative_to(root.resolve())}" \
        if Path(output).resolve().is_relative_to(root.resolve()) else None
    status = git("status", "--porcelain", "--", ".", *([exclude] if exclude else []))
    return head + ("-dirty" if status else "")


def header(command, now, started, params, machine_info, commit_id):
    lines = [f"Written by `{command}` on {now:%Y-%m-%d %H:%M} UTC; the next run replaces this "
             "whole file.", "", "| run | |", "|---|---|", f"| commit | `{commit_id}` |",
             f"| CPU | {machine_info['cpu']}, {machine_info['cores']} cores |",
             f"| memory | {machine_info['memory']} |", f"| kernel | {machine_info['kernel']} |",
             f"| toolchain | {machine_info['cargo']} |",
             f"| descriptor limit | {machine_info['descriptors']} |"]
    lines += [f"| {cell(name)} | {cell(value)} |" for name, value in params]
    if started is not None:
        lines.append(f"| run time | {int(now.timestamp() - started):,} s |")
    return "\n".join(lines) + "\n"


def render(template, header_text, tables_text):
    for placeholder in ("{{header}}", "{{tables}}"):
        if placeholder not in template:
            raise ValueError(f"the template has no {placeholder}")
    return template.replace("{{header}}", header_text).replace("{{tables}}", tables_text)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figures", required=True)
    parser.add_argument("--template", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--command", required=True, help="the command that measured the figures")
    parser.add_argument("--started", type=float, help="when the run began (seconds since the epoch)")
    parser.add_argument("--param", action="append", default=[], help="NAME=VALUE shown in the header")
    parser.add_argument("--columns", default="figure,result,baseline,ratio,target")
    parser.add_argument("--commit", help="the commit the run measured, taken when it began "
                        "(default: the tree's commit now)")
    args = parser.parse_args(argv)
    columns = parse_columns(args.columns)
    params = [tuple(p.split("=", 1)) for p in args.param]
    with open(args.figures) as lines:
        figures = read_figures(lines)
    now = datetime.datetime.now(datetime.timezone.utc)
    text = render(Path(args.template).read_text(),
                  header(args.command, now, args.started, params, machine(),
                         args.commit or commit(ROOT, args.output)),
                  tables_markdown(figures, columns))
    output = Path(args.output)
    partial = output.with_name(output.name + ".partial")
    partial.write_text(text)
    partial.replace(output)
    print(f"wrote {output} ({sum(1 for f in figures if 'note' not in f)} figures)")


if __name__ == "__main__":
    main(sys.argv[1:])
