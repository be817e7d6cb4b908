"""MkDocs hooks: the pages made from the code at build time (``hooks: [docs/hooks.py]`` in ``mkdocs.yml``).

- ``catalog/index.md`` and one ``catalog/<name>.md`` per entry of ``phenomena.catalog.ENTRIES``, written from
  the entry itself: its module docstring, config keys (``describe_fields``), presets side by side, controls,
  references, calibration, and the figure of its ``smoke`` preset, rendered once per build into a temporary
  store (``PHENOMENA_DOCS_FIGURES=0`` leaves the figures out, e.g. for a quick check of the pages);
- ``cli.md``, from the click group ``phenomena.cli.main``: every command's usage, help and options.

Generated pages live only in the build's file collection (``File.generated``): nothing is written into the
source tree. The same file is also the griffe extension ``Docstrings`` (named in ``mkdocs.yml``) that adapts the
docstrings' reST roles and doctests to Markdown for mkdocstrings and honours ``from a import x as x`` re-exports.
"""

from __future__ import annotations

import atexit
import importlib
import inspect
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.plugins.phenomena-docs")  # under "mkdocs": a warning fails `--strict`

FIGURES_ENV = "PHENOMENA_DOCS_FIGURES"
CATALOG_NAV_TITLE = "Catalog"  # the nav item of mkdocs.yml that on_config expands into one page per entry

# ----------------------------------------------------------------------------------------------------------------
# reST-flavoured docstring text -> Markdown
# ----------------------------------------------------------------------------------------------------------------

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|mod|obj|exc|const|ref|term):`(~?)([^`]+)`")
_CODE = re.compile(r"(``.+?``|`[^`\n]+`)")


def rst_roles(text: str) -> str:
    """``:func:`~a.b.c``` -> ``c`` and ``:class:`a.B``` -> ``a.B`` (as code); ````x```` -> ```x```."""

    def role(m: re.Match) -> str:
        target = m.group(2).strip()
        if "<" in target and target.endswith(">"):  # :ref:`title <target>`
            target = target[: target.index("<")].strip()
        if m.group(1):
            target = target.rsplit(".", 1)[-1]
        return f"``{target}``"

    return _ROLE.sub(role, text)


def _escape_prose(text: str) -> str:
    """Markdown-escape text outside code spans: emphasis, links, HTML and autorefs must not be read into it."""
    for char, escaped in (("\\", "\\\\"), ("*", "\\*"), ("[", "\\["), ("]", "\\]"), ("<", "&lt;"), ("|", "\\|")):
        text = text.replace(char, escaped)
    return text


def fence_doctests(text: str) -> str:
    """Wrap each run of doctest lines (``>>>``, ``...`` and the output up to a blank line) in a ``pycon`` fence
    at the run's indentation, with the blank lines a fence needs around it."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        run = []
        while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
            run.append(lines[i][len(indent) :])
            i += 1
        if out and out[-1].strip() and not re.match(r"^\s*[A-Z]\w*( \w+)?:\s*$", out[-1]):  # not after "Example:"
            out.append("")
        out += [f"{indent}```pycon", *(indent + r for r in run), f"{indent}```"]
        if i < len(lines) and lines[i].strip():
            out.append("")
    return "\n".join(out)


def inline_md(text: str, table: bool = False) -> str:
    """One run of docstring or help text as inline Markdown: roles and double-backtick literals become code
    spans, everything else is escaped (pipes too, in a table cell; Python-Markdown's tables leave the pipes
    inside code spans alone)."""
    out = []
    for i, part in enumerate(_CODE.split(rst_roles(text))):
        if i % 2:  # a code span
            inner = part[2:-2] if part.startswith("``") else part[1:-1]
            out.append(f"`{inner}`" if "`" not in inner else f"`` {inner} ``")
        else:
            out.append(_escape_prose(part) if table else _escape_prose(part).replace("\\|", "|"))
    return "".join(out)


def cell(value: Any) -> str:
    """Any value as the text of a Markdown table cell (one line)."""
    return inline_md(" ".join(str(value).split()), table=True) or " "


def code_cell(value: Any) -> str:
    text = " ".join(str(value).split())
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def prose_md(text: str) -> str:
    """A docstring (already dedented) as Markdown blocks: paragraphs kept, ``- `` lines made into lists (with
    the blank line Markdown needs before a list), each line escaped."""
    blocks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        out: list[str] = []
        in_list = False
        for line in lines:
            stripped = line.strip()
            item = re.match(r"^[-*] ", stripped)
            if item:
                if out and not in_list:
                    out.append("")
                in_list = True
                out.append("- " + inline_md(stripped[2:]))
            elif in_list and line.startswith(" "):
                out.append("  " + inline_md(stripped))  # continuation of the item
            else:
                if in_list:
                    out.append("")
                in_list = False
                text_line = inline_md(stripped)
                if re.match(r"^(#|>|\d+[.)] |\+ )", text_line):
                    text_line = "\\" + text_line
                out.append(text_line)
        blocks.append("\n".join(out))
    return "\n\n".join(blocks)


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table from cells that are already Markdown."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# values as a user types them
# ----------------------------------------------------------------------------------------------------------------


def value_text(value: Any) -> str:
    """A config value as typed after ``-s key=``: tuples comma-joined, None as ``none``, floats short."""
    if isinstance(value, tuple | list):
        return ",".join(value_text(v) for v in value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def number(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def seeds_text(seeds: tuple[int, ...]) -> str:
    """``(100, ..., 109)`` -> ``100-109`` where contiguous."""
    seeds = tuple(seeds)
    if len(seeds) > 2 and seeds == tuple(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))


def short_paper(paper: str) -> str:
    """``Power, Burda, Edwards 2022 — Title`` -> ``Power et al. 2022``."""
    authors = paper.split(" — ", 1)[0].strip()
    names = [n.strip() for n in authors.split(",")]
    last, _, year = names[-1].rpartition(" ")
    if not year.isdigit():
        return authors
    names[-1] = last
    if len(names) == 1:
        return f"{names[0]} {year}"
    if len(names) == 2:
        return f"{names[0]} & {names[1]} {year}"
    return f"{names[0]} et al. {year}"


# ----------------------------------------------------------------------------------------------------------------
# figures: each entry's smoke preset, run once per build process into a temporary store
# ----------------------------------------------------------------------------------------------------------------

_STORE: Path | None = None


def figures_enabled() -> bool:
    """On unless ``PHENOMENA_DOCS_FIGURES`` is 0 (or false, no, off)."""
    return os.environ.get(FIGURES_ENV, "").strip().lower() not in ("0", "false", "no", "off")


def _store() -> Path:
    """One temporary store per process: `mkdocs serve` reuses its finished runs on every rebuild."""
    global _STORE
    if _STORE is None:
        _STORE = Path(tempfile.mkdtemp(prefix="phenomena-docs-"))
        atexit.register(shutil.rmtree, _STORE, True)
    return _STORE


def smoke_run(name: str):
    """The entry's smoke run (a Result with its figure), or None when it could not be made (a warning)."""
    import torch

    from phenomena.api import run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # light on a busy machine (5-10x faster there than oversubscribed), and repeatable
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch-internal, logged by mkdocs otherwise
            result = run(name, "smoke", store=_store(), progress=False)
    except Exception as e:  # noqa: BLE001 - any failure is reported, and the page says so
        log.warning("docs: the smoke run of %r failed, so its page has no figure: %s: %s", name, type(e).__name__, e)
        return None
    finally:
        torch.set_num_threads(threads)
    if result.figure_path is None or not Path(result.figure_path).is_file():
        log.warning("docs: the smoke run of %r made no figure", name)
        return None
    return result


# ----------------------------------------------------------------------------------------------------------------
# one page per catalog entry
# ----------------------------------------------------------------------------------------------------------------


def split_verdict(doc: str) -> tuple[str, str]:
    """(the docstring without its verdict text, the verdict text): the paragraph that starts with "Verdict"
    (or the part of a paragraph from "Verdict" on) and the list items that follow it."""
    blocks = re.split(r"\n\s*\n", inspect.cleandoc(doc))
    for i, block in enumerate(blocks):
        m = re.search(r"(^|(?<=[.;:)] ))Verdict\b", block, re.M)
        if not m:
            continue
        before, verdict = block[: m.start()].rstrip(), block[m.start() :]
        rest = [verdict]
        j = i + 1
        while j < len(blocks) and re.match(r"^\s*([-*] |\(\d+\))", blocks[j]):
            rest.append(blocks[j])
            j += 1
        kept = blocks[:i] + ([before] if before else []) + blocks[j:]
        return "\n\n".join(kept), "\n\n".join(rest)
    return "\n\n".join(blocks), ""


def entry_page(entry, module_doc: str, result) -> str:
    """The Markdown page of one entry (``result``: its smoke run, or None)."""
    from phenomena.config import describe_fields

    name = entry.name
    about, verdict_text = split_verdict(module_doc or "")
    title, _, body = about.partition("\n\n") if about else ("", "", "")
    lead = " ".join(title.split()) if title else entry.summary
    out = [f"# {name}", "", f"**{inline_md(lead)}**", ""]
    out += [
        "```",
        f"phenomena run {name}                 # the quick preset, judged by its verdict",
        f"phenomena run {name} --preset smoke  # seconds: proves the pipeline",
        f"phenomena config {name}              # every key and the presets side by side",
        f"phenomena verify {name} --seeds 3    # held-out seeds 0-2 and every control",
        "```",
        "",
        "**Papers**",
        "",
    ]
    out += [f"- {inline_md(p)}" for p in entry.papers]
    out += ["", "## About", "", prose_md(body) if body.strip() else "(no description)", ""]

    # figure
    out += ["## Figure", ""]
    if result is not None:
        out += [
            f"![The figure of {name}'s smoke preset]({_figure_name(name)})",
            "",
            f"*The `smoke` preset (seed {result.config.seed}), rendered when these pages were built; "
            f"`phenomena run {name}` draws the same figure at `quick`.*",
            "",
        ]
    elif figures_enabled():
        out += ["The smoke run failed when these pages were built, so there is no figure.", ""]
    else:
        out += [
            f"Figures were left out of this build (`{FIGURES_ENV}=0`); `phenomena run {name} --preset smoke` "
            "draws it in seconds.",
            "",
        ]
    # verdict
    out += ["## Verdict", ""]
    if verdict_text:
        out += [prose_md(verdict_text), ""]
    else:
        out += ["The module docstring does not spell out the verdict; the controls below name its checks.", ""]
    if result is not None and result.verdict is not None:
        rows = []
        for c in result.verdict.checks:
            measured = number(c.value) if c.measured else f"unmeasured ({number(c.value)})"
            rows.append(
                [
                    cell(c.name),
                    code_cell(measured),
                    code_cell(f"{c.op} {number(c.threshold)}"),
                    "PASS" if c.passed else "**FAIL**",
                ]
            )
        holds = (
            "its verdict is expected to hold"
            if entry.smoke_holds
            else "it only proves the pipeline: its verdict is not expected to hold (the phenomenon needs `quick`)"
        )
        out += [
            f"The checks, as measured by the `smoke` run this page was built with (seed "
            f"{result.config.seed}; {holds}):",
            "",
            table(["check", "measured", "threshold", ""], rows),
            "",
            f"verdict: **{'PASS' if result.verdict.passed else 'FAIL'}**",
            "",
        ]

    # controls
    out += ["## Controls", ""]
    if entry.controls:
        out += [
            "Each control removes the mechanism a check claims; `phenomena verify` runs it on the same seeds and "
            "counts how often the named checks fail (they must, on at least 80% of the seeds).",
            "",
        ]
        rows = []
        for c in entry.controls:
            overrides = " ".join(f"-s {k}={value_text(v)}" for k, v in c.overrides.items())
            rows.append(
                [
                    cell(c.name),
                    code_cell(overrides) if overrides else " ",
                    "<br>".join(cell(m) for m in c.must_fail),
                    cell(c.why),
                ]
            )
        out += [table(["control", "overrides", "must fail (check prefixes)", "why"], rows), ""]
    else:
        out += ["This entry declares no control.", ""]

    # references
    out += ["## References", ""]
    if entry.references:
        out += [
            "Published numbers, judged as extra checks (`|measured - published| <= tol`) on runs of their preset's "
            "exact setting.",
            "",
        ]
        rows = [
            [cell(r.source), f"`{r.preset}`", f"`{r.metric}`", f"{r.value:g} ± {r.tol:g}", cell(r.note)]
            for r in entry.references
        ]
        out += [table(["source", "preset", "metric", "value ± tol", "note"], rows), ""]
    else:
        out += ["No published number is judged by this entry.", ""]

    # calibration
    out += ["## Calibration", ""]
    cal = entry.calibration
    if cal is not None:
        out += [f"Thresholds chosen on seeds **{seeds_text(cal.seeds)}** (never the seeds a verdict is judged on).", ""]
        if cal.note:
            out += [prose_md(cal.note), ""]
        if cal.observed:
            rows = []
            for key, values in cal.observed.items():
                vals = [v for v in values if isinstance(v, int | float)]
                finite = [v for v in vals if math.isfinite(v)]
                span = f"{number(min(finite))} – {number(max(finite))}" if finite else "–"
                rows.append([f"`{key}`", span, cell(", ".join(number(v) for v in values))])
            out += ["Observed on those seeds:", "", table(["summary key", "range", "values"], rows), ""]
    else:
        out += ["No calibration seeds are recorded.", ""]

    # config
    base = entry.presets["quick"]
    fields = describe_fields(base)
    out += [
        "## Config",
        "",
        f"Every key, with its `quick` value; set any of them with `phenomena run {name} -s KEY=VALUE`.",
        "",
    ]
    rows = [
        [
            f"`{f.key}`",
            code_cell(f.type),
            code_cell(value_text(f.default)),
            cell("; ".join(f.constraints)),
            cell(f.help),
        ]
        for f in fields
    ]
    out += [table(["key", "type", "default (quick)", "constraint", "help"], rows), ""]

    # presets
    by_preset = {p: {f.key: f.default for f in describe_fields(cfg)} for p, cfg in entry.presets.items()}
    differ = [f.key for f in fields if len({json.dumps(v[f.key], default=str) for v in by_preset.values()}) > 1]
    presets = list(entry.presets)
    out += ["## Presets", ""]
    roles = {
        "smoke": "seconds, proves the pipeline",
        "quick": "the default",
        "paper": "**published**: the paper's setting",
        "full": "a larger CPU transposition",
    }
    header = ["key"] + [f"`{p}`" for p in presets]
    rows = [["role"] + [roles.get(p, "") for p in presets], ["cost"] + [cell(entry.costs[p]) for p in presets]]
    rows += [[f"`{k}`"] + [code_cell(value_text(by_preset[p][k])) for p in presets] for k in differ]
    published = [p for p in presets if p == "paper"]
    note = (
        "The `paper` preset is the published setting."
        if published
        else "No preset is the published setting exactly: `full` is a transposition (see About)."
    )
    out += [f"The keys where the presets differ. {note}", "", table(header, rows), ""]
    smoke_note = "is expected to hold" if entry.smoke_holds else "is not expected to hold (it proves the pipeline)"
    out += [f"The `smoke` preset's verdict {smoke_note}.", ""]

    return "\n".join(out)


def _figure_name(name: str) -> str:
    return f"{name}.png"


def catalog_index(entries) -> str:
    out = [
        "# Catalog",
        "",
        "Every phenomenon of the catalog, generated from `phenomena.catalog.ENTRIES` when these pages were built. "
        "Each page holds the entry's description, verdict, controls, references, calibration seeds, config keys, "
        "presets and the figure of its smoke preset.",
        "",
        "**Presets.** `smoke` proves the pipeline in seconds; `quick` is the default, judged by "
        "`phenomena verify` on held-out seeds; `paper` is the published setting exactly (**published** below) "
        "and `full` a larger CPU transposition that says what differs.",
        "",
    ]
    rows = []
    for e in entries:
        costs = "<br>".join(
            f"`{p}`{' (**published**)' if p == 'paper' else ''}: {cell(cost)}" for p, cost in e.costs.items()
        )
        papers = "; ".join(cell(short_paper(p)) for p in e.papers)
        rows.append([f"[{e.name}]({e.name}.md)", cell(e.summary), papers, costs])
    out += [table(["name", "phenomenon", "papers", "presets and cost"], rows), ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------------------------
# the CLI reference, from the click group
# ----------------------------------------------------------------------------------------------------------------


def _help_text(text: str | None) -> str:
    """A click help text as Markdown: ``\\f`` ends it, ``\\b`` paragraphs stay as they are written."""
    if not text:
        return ""
    text = inspect.cleandoc(text).split("\f", 1)[0]
    blocks = []
    for block in re.split(r"\n\s*\n", text):
        if block.startswith("\b"):
            lines = block.split("\n")[1:]
            blocks.append("```\n" + "\n".join(lines) + "\n```")
        else:
            blocks.append(prose_md(block))
    return "\n\n".join(blocks)


def _command_md(cmd, ctx, level: int) -> list[str]:
    import click

    path = ctx.command_path
    anchor = f" {{ #{_anchor(path.split(' ', 1)[1])} }}" if " " in path else ""
    out = [f"{'#' * level} `{path}`{anchor}", ""]
    usage = cmd.get_usage(ctx).strip().removeprefix("Usage:").strip()
    out += ["```", usage, "```", ""]
    help_text = _help_text(cmd.help)
    if help_text:
        out += [help_text, ""]
    arguments = [p for p in cmd.get_params(ctx) if isinstance(p, click.Argument)]
    if arguments:
        rows = []
        for a in arguments:
            many = " (one or more)" if a.nargs == -1 and a.required else (" (any number)" if a.nargs == -1 else "")
            rows.append([code_cell(a.make_metavar(ctx)), ("required" if a.required else "optional") + many])
        out += [table(["argument", ""], rows), ""]
    options = []
    for p in cmd.get_params(ctx):
        if isinstance(p, click.Option):
            record = p.get_help_record(ctx)
            if record:
                options.append([code_cell(record[0]), cell(record[1])])
    if options:
        out += [table(["option", "help"], options), ""]
    if isinstance(cmd, click.Group):
        for sub_name, sub in cmd.commands.items():
            if getattr(sub, "hidden", False):
                continue
            sub_ctx = sub.make_context(sub_name, [], parent=ctx, resilient_parsing=True)
            out += _command_md(sub, sub_ctx, level + 1)
    return out


def cli_page() -> str:
    import click

    from phenomena.cli import main

    ctx = main.make_context("phenomena", [], resilient_parsing=True)  # with the group's context_settings (-h)
    commands = [(n, c) for n, c in main.commands.items() if not getattr(c, "hidden", False)]
    out = [
        "# CLI reference",
        "",
        "Generated from the click group `phenomena.cli.main` when these pages were built, so it lists the "
        "commands of the installed version. `phenomena COMMAND --help` prints the same text. Errors a user can "
        "cause end in one line on stderr and exit code 2.",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    for n, c in commands:
        first = (inspect.cleandoc(c.help or "").split("\f", 1)[0].split("\n\n", 1)[0]).replace("\n", " ")
        out.append(f"| [`phenomena {n}`](#{_anchor(n)}) | {cell(first)} |")
    out.append("")
    # the group's own usage and options, then one section per command
    out += ["## `phenomena`", ""]
    out += ["```", main.get_usage(ctx).strip().removeprefix("Usage:").strip(), "```", ""]
    out += [_help_text(main.help), ""]
    rows = []
    for p in main.get_params(ctx):
        if isinstance(p, click.Option) and (record := p.get_help_record(ctx)):
            rows.append([code_cell(record[0]), cell(record[1])])
    out += ["Global options (before the command: `phenomena --home DIR run ...`):", "", table(["option", "help"], rows)]
    out += [""]
    for n, c in commands:
        out += _command_md(c, c.make_context(n, [], parent=ctx, resilient_parsing=True), 2)
    return "\n".join(out)


def _anchor(command: str) -> str:
    return "cmd-" + re.sub(r"[^a-z0-9]+", "-", command.lower()).strip("-")


# ----------------------------------------------------------------------------------------------------------------
# the mkdocs hooks
# ----------------------------------------------------------------------------------------------------------------


def on_config(config):
    """Expand the nav item ``Catalog: catalog/index.md`` into the catalog's index and one page per entry."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    from phenomena.catalog import ENTRIES

    nav = config.nav
    if not nav:
        return config
    pages = ["catalog/index.md"] + [{name: f"catalog/{name}.md"} for name in ENTRIES]
    for i, item in enumerate(nav):
        if isinstance(item, dict) and CATALOG_NAV_TITLE in item:
            nav[i] = {CATALOG_NAV_TITLE: pages}
    return config


def on_files(files, config):
    """Add the generated pages (and figures) to the build's files; nothing is written to the source tree."""
    from mkdocs.structure.files import File

    from phenomena.catalog import ENTRIES, get_entry

    start = time.perf_counter()
    with_figures = figures_enabled()
    entries = []
    for name, module_name in ENTRIES.items():
        entry = get_entry(name)
        entries.append(entry)
        result = smoke_run(name) if with_figures else None
        module_doc = importlib.import_module(module_name).__doc__ or ""
        files.append(File.generated(config, f"catalog/{name}.md", content=entry_page(entry, module_doc, result)))
        if result is not None:
            png = Path(result.figure_path).read_bytes()
            files.append(File.generated(config, f"catalog/{_figure_name(name)}", content=png))
    files.append(File.generated(config, "catalog/index.md", content=catalog_index(entries)))
    files.append(File.generated(config, "cli.md", content=cli_page()))
    log.info(
        "docs: generated %d catalog pages%s and the CLI reference in %.1f s",
        len(entries),
        " with figures" if with_figures else f" without figures ({FIGURES_ENV}=0)",
        time.perf_counter() - start,
    )
    return files


# ----------------------------------------------------------------------------------------------------------------
# the griffe extension (mkdocstrings: `extensions: [docs/hooks.py:Docstrings]`)
# ----------------------------------------------------------------------------------------------------------------

try:
    import griffe as _griffe
except ImportError:  # pragma: no cover - mkdocstrings brings griffe
    _griffe = None

if _griffe is not None:

    class Docstrings(_griffe.Extension):
        """What the API page needs from griffe beyond its defaults.

        - reST roles in docstrings become code spans (``:func:`~a.b``` -> ```b```) instead of a literal
          ``:func:``, and doctest lines (``>>> ...``) are fenced, which Markdown would read as block quotes;
        - a name re-exported with the redundant alias ``from a import x as x`` (PEP 484's explicit re-export,
          as ``phenomena.training`` and ``phenomena.api`` do) is public, so ``filters: public`` renders it;
        - a function exported under the name of its own submodule (``phenomena.kernels.fc``) is the function.
        """

        def on_instance(self, *, obj, **kwargs) -> None:
            if obj.docstring is not None:
                obj.docstring.value = fence_doctests(rst_roles(obj.docstring.value))

        def on_package(self, *, pkg, **kwargs) -> None:
            """``from phenomena.kernels.fc import fc`` in a package whose ``__all__`` names ``fc``: griffe keeps
            the submodule ``fc`` under that name, Python (and a reader) gets the function; give the reader the
            function."""
            stack = [pkg]
            while stack:
                module = stack.pop()
                subs = [m for m in module.members.values() if not m.is_alias and m.is_module]
                stack += subs
                exports = {str(getattr(e, "name", e)) for e in (module.exports or ())}
                for sub in subs:
                    target = sub.members.get(sub.name)
                    if sub.name in exports and target is not None and not target.is_module:
                        module.set_member(sub.name, _griffe.Alias(sub.name, target, parent=module))

        def on_alias_instance(self, *, node, alias, **kwargs) -> None:
            import ast

            names = getattr(node, "names", None) or ()
            if isinstance(node, ast.ImportFrom | ast.Import) and any(
                a.asname is not None and a.asname == a.name == alias.name for a in names
            ):
                alias.public = True
