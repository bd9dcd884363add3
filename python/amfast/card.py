"""The dataset card of a release: the AM paper's tables as Markdown, and PNG plots.

Tables (each `label | rows | share`): rows per instruction source and per response source;
rows with a reference answer, a test case, both or neither; the category, difficulty and
response-length distributions. The card opens with Hugging Face's YAML header, so the hub (or
`datasets.load_dataset`) finds the Parquet shards.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from amfast.errors import InputError
from amfast.io import AtomicWriter

if TYPE_CHECKING:
    from amfast.export import ExportConfig

TITLES = {
    "instruction_source": ("Rows per instruction source", "source"),
    "response_source": ("Rows per response source", "response source"),
    "reference": ("Reference answers and test cases", "the query has"),
    "category": ("Categories", "category"),
    "difficulty": ("Difficulty", "difficulty"),
    "length": ("Response length", "tokens"),
}
PLOTTED = ("category", "difficulty", "length")


def markdown_table(header: str, rows: list[tuple[str, int]], total: int) -> str:
    """A `label | rows | share` table.

    Example:
        >>> print(markdown_table("source", [("math", 3), ("code", 1)], 4))
        | source | rows | share |
        |---|---:|---:|
        | math | 3 | 75.00% |
        | code | 1 | 25.00% |
    """
    lines = [f"| {header} | rows | share |", "|---|---:|---:|"]
    for label, count in rows:
        share = count / total if total else 0.0
        lines.append(f"| {label.replace('|', '/')} | {count:,} | {share:.2%} |")
    return "\n".join(lines)


def plot_distribution(path: Path, title: str, rows: list[tuple[str, int]]) -> None:
    """A horizontal bar chart of one distribution, as PNG (atomically).

    Raises:
        InputError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise InputError("the card's plots need matplotlib: pip install 'amfast[eval]'") from error
    labels = [label for label, _ in rows][::-1]
    counts = [count for _, count in rows][::-1]
    figure, axes = plt.subplots(figsize=(7, 0.45 * max(len(rows), 3) + 1))
    axes.barh(labels, counts, color="#3b82f6")
    axes.set_title(title)
    axes.set_xlabel("rows")
    for y, count in enumerate(counts):
        axes.text(count, y, f" {count:,}", va="center", fontsize=8)
    figure.tight_layout()
    with AtomicWriter(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    plt.close(figure)


def write_card(
    output: Path,
    config: ExportConfig,
    tables: dict[str, list[tuple[str, int]]],
    rows: int,
) -> None:
    """Writes `README.md` and `plots/*.png` into the release folder."""
    parts = [
        "---",
        f"pretty_name: {config.name}",
        "task_categories:\n- text-generation",
        "configs:\n- config_name: default\n  data_files:\n  - split: train\n"
        "    path: parquet/am_*.parquet",
        "---",
        f"# {config.name}",
        "",
        *([config.description, ""] if config.description else []),
        f"{rows:,} conversations in the AM message schema: `messages[{{role, content, info}}]`;"
        " the user's `info` holds `source`, `reference_answer`, `test_case` and the labels "
        "(`category`, `difficulty`, `language`, `query_tokens`), the assistant's holds "
        "`source`, `think_content`, `answer_content` and the verification (`verify_score`, "
        "`verify_reason`, `verifier`, `response_tokens`). Built with amfast.",
        "",
        "Files: `am_*.jsonl.zst` (JSONL, zstd), `parquet/am_*.parquet`, `datasets/` "
        "(`datasets.load_from_disk`).",
    ]
    for name, (title, header) in TITLES.items():
        parts += ["", f"## {title}", "", markdown_table(header, tables[name], rows)]
        if name == "length":
            parts += [
                "",
                "Tokens of the response as `amfast label` counted them (its tokenizer), else "
                "words of amfast's Rust tokenizer.",
            ]
        if name in PLOTTED:
            plot = output / "plots" / f"{name}.png"
            plot_distribution(plot, title, tables[name])
            parts += ["", f"![{title}](plots/{name}.png)"]
    with AtomicWriter(output / "README.md") as temporary:
        temporary.write_text("\n".join(parts) + "\n", encoding="utf-8")
