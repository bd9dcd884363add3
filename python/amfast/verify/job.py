"""`verify_file`: verify every row of a file, resumably, and write the verdicts and an audit.

The input (a file or folder of any kind `amfast.io` reads) is read in chunks of `chunk_rows`.
Each chunk's rows go out, with their verdicts, to `<output>.parts/part-NNNNNN.jsonl`, written
atomically: a part that exists is complete, so a killed run resumes at the first missing part. A
rerun also re-verifies the rows of finished parts whose verdict was `infra_error` (the verifier
failed, not the response). When every part is there, they are joined into `output`; the parts
are then removed, unless some rows failed for infrastructure reasons: then a rerun of the same
command retries just those rows and writes `output` again.

Each output row is its input row plus `verify_score` (null when ungraded), `verify_reason`,
`verifier`, `verify_detail` and, when the LLM judge ran, `verify_judge`; AM-schema rows carry
them in the last assistant message's `info`, flat rows at the top level. An unreadable line
becomes `{"raw_line": ..., "verify_reason": "bad_row", ...}`, so no row is lost.

With `labels` (a dotted path to a boolean verdict already in the rows), each audit entry also
keeps the row's label, the audit gains the agreement table (`VerifyAudit.agreement`), and every
graded row whose verdict disagrees with its label is written, with its extracted answer, to
`<output>.disagreements.jsonl`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from amfast.errors import InputError
from amfast.io import (
    UnreadableRow,
    _open_text_output,
    chunked,
    field_at,
    input_files,
    read_records,
)
from amfast.outputs import AtomicWriter, Output, check_outputs, write_text_atomically
from amfast.verify.audit import VerifyAudit
from amfast.verify.dispatch import (
    BadRow,
    RowFields,
    VerifyOptions,
    VerifyTask,
    task_of,
    verify_tasks,
)
from amfast.verify.verdict import Verdict

_VERIFY_KEYS = ("verify_score", "verify_reason", "verifier", "verify_detail", "verify_judge")

Row = dict[str, Any]


def _iter_rows(path: Path) -> Iterator[Row | UnreadableRow]:
    """Input rows as dicts; an unreadable JSONL line comes as an `UnreadableRow`."""
    for where, record in read_records(path):
        if isinstance(record, dict):
            yield record
        else:
            yield UnreadableRow(f"{where}: {record.message}", record.raw)


def _verdict_fields(verifier: str, verdict: Verdict, judge: tuple[bool, bool | None]) -> Row:
    fields: Row = {
        "verify_score": verdict.to_dict()["score"],
        "verify_reason": verdict.reason,
        "verifier": verifier,
    }
    if verdict.detail:
        fields["verify_detail"] = verdict.detail[:2000]
    if judge[0]:
        fields["verify_judge"] = judge[1]
    return fields


def _with_verdict(record: Row, fields: Row) -> Row:
    """A copy of `record` carrying `fields` (in the assistant's info for AM-schema rows)."""
    messages = record.get("messages")
    if isinstance(messages, list):
        assistants = [
            i
            for i, m in enumerate(messages)
            if isinstance(m, dict) and m.get("role") == "assistant"
        ]
        if assistants:
            last = assistants[-1]
            message = dict(messages[last])
            info = {k: v for k, v in (message.get("info") or {}).items() if k not in _VERIFY_KEYS}
            message["info"] = info | fields
            return record | {"messages": [*messages[:last], message, *messages[last + 1 :]]}
    clean = {k: v for k, v in record.items() if k not in _VERIFY_KEYS}
    return clean | fields


def label_of(record: Row, labels: str) -> bool | None:
    """The boolean verdict at the dotted path `labels` of a row (0/1 count), else None.

    Example:
        >>> label_of({"harness": {"passed": True}}, "harness.passed"), label_of({}, "passed")
        (True, None)
    """
    try:
        value = field_at(record, labels)
    except KeyError:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None


def _verify_chunk(
    chunk: list[Row | UnreadableRow],
    fields: RowFields,
    options: VerifyOptions,
    labels: str | None = None,
) -> tuple[list[Row], list[Row]]:
    """Verdicts for one chunk: (output rows, audit entries)."""
    outputs: list[Row | None] = [None] * len(chunk)
    entries: list[Row | None] = [None] * len(chunk)
    tasks: list[VerifyTask] = []
    task_rows: list[int] = []
    for index, row in enumerate(chunk):
        if isinstance(row, UnreadableRow):
            verdict = Verdict.ungraded("bad_row", detail=row.message)
            outputs[index] = {"raw_line": row.raw} | _verdict_fields("none", verdict, (False, None))
            entries[index] = {"verifier": "none", "source": "unknown", "reason": "bad_row"}
            continue
        try:
            task = task_of(row, fields, reward=options.reward_model is not None)
        except BadRow as error:
            verdict = Verdict.ungraded("bad_row", detail=str(error))
            outputs[index] = _with_verdict(row, _verdict_fields("none", verdict, (False, None)))
            entries[index] = {"verifier": "none", "source": "unknown", "reason": "bad_row"}
            continue
        tasks.append(task)
        task_rows.append(index)
    verdicts, judgements = verify_tasks(tasks, options)
    for position, (index, task, verdict) in enumerate(zip(task_rows, tasks, verdicts, strict=True)):
        judge = (judgements.judged[position], judgements.decisions[position])
        record = chunk[index]
        assert isinstance(record, dict)  # unreadable rows were handled above
        outputs[index] = _with_verdict(record, _verdict_fields(task.verifier, verdict, judge))
        entry: Row = {
            "verifier": task.verifier,
            "source": task.source,
            "reason": verdict.reason,
            "judged": judge[0],
            "judge": judge[1],
        }
        if labels is not None:
            label = label_of(record, labels)
            entry |= {"labelled": True, "label": label}
            if label is not None and verdict.graded and label != verdict.passed:
                entry |= {"extracted": verdict.extracted, "detail": verdict.detail}
        entries[index] = entry
    return [o for o in outputs if o is not None], [e for e in entries if e is not None]


def _check_labels(source: Path, chunk: list[Row | UnreadableRow], labels: str) -> None:
    """A `labels` path that holds no boolean in the first chunk is a mistake, not a result."""
    records = [row for row in chunk if isinstance(row, dict)]
    if records and all(label_of(row, labels) is None for row in records):
        try:
            found: Any = field_at(records[0], labels)
            what = f"{type(found).__name__} {found!r}"[:80]
        except KeyError:
            what = "nothing"
        raise InputError(
            f"{source}: --labels {labels!r}: no row of the first {len(records)} holds a boolean "
            f"there (row 1 has {what})"
        )


def _disagreement(entry: Row) -> Row:
    keys = ("verifier", "source", "label", "reason", "extracted", "detail")
    return {key: entry.get(key) for key in keys}


def _write_part(parts: Path, number: int, outputs: list[Row], entries: list[Row]) -> None:
    # The audit entries go first: the part file is the completion marker.
    with AtomicWriter(parts / f"part-{number:06d}.audit.json") as temporary:
        temporary.write_text(json.dumps(entries), encoding="utf-8")
    with AtomicWriter(parts / f"part-{number:06d}.jsonl") as temporary, temporary.open("wb") as out:
        for row in outputs:
            out.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")


def _read_part(parts: Path, number: int) -> tuple[list[Row], list[Row]] | None:
    part = parts / f"part-{number:06d}.jsonl"
    if not part.exists():
        return None
    outputs = [json.loads(line) for line in part.read_bytes().splitlines() if line.strip()]
    entries = json.loads((parts / f"part-{number:06d}.audit.json").read_text(encoding="utf-8"))
    return outputs, entries


def _retry_infra_errors(
    chunk: list[Row | UnreadableRow],
    done: tuple[list[Row], list[Row]],
    fields: RowFields,
    options: VerifyOptions,
    labels: str | None,
) -> tuple[list[Row], list[Row]] | None:
    """Re-verifies the rows of a finished part that failed for infrastructure reasons."""
    outputs, entries = done
    retry = [i for i, entry in enumerate(entries) if entry["reason"] == "infra_error"]
    if not retry:
        return None
    new_outputs, new_entries = _verify_chunk([chunk[i] for i in retry], fields, options, labels)
    for index, output, entry in zip(retry, new_outputs, new_entries, strict=True):
        outputs[index], entries[index] = output, entry
    return outputs, entries


def check_verify_outputs(
    source: Path,
    output: Path,
    audit_path: str | os.PathLike[str],
    disagreements_path: str | os.PathLike[str] | None = None,
) -> Path:
    """Checks before any work that the outputs are writable and none is the input.

    Returns:
        The folder of resumable parts (`OUTPUT.parts`).

    Raises:
        InputError: An output equal to the input or another output, or not writable.
    """
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    if output.name.lower().endswith((".parquet", ".pq")):
        raise InputError(f"-o/--output {output}: verify writes JSONL; name it .jsonl or .jsonl.gz")
    parts = output.with_name(output.name + ".parts")
    check_outputs(
        [source],
        [
            Output(output, "-o/--output"),
            Output(audit_path, "--audit"),
            Output(parts, "(the resumable parts of -o)", folder=True),
            *([Output(disagreements_path, "--disagreements")] if disagreements_path else []),
        ],
    )
    return parts


def _recorded_fingerprint(marker: Path) -> str | None:
    """The fingerprint a run recorded; None for a damaged marker (treated as another run)."""
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None
    return recorded if isinstance(recorded, str) else None


def _run_fingerprint(
    source: Path, fields: RowFields, options: VerifyOptions, chunk_rows: int, labels: str | None
) -> str:
    stats = [(file.stat().st_size, file.stat().st_mtime_ns) for file in input_files(source)]
    settings = {
        "input": str(source.resolve()),
        "files": stats,
        "fields": asdict(fields),
        "chunk_rows": chunk_rows,
        "math_timeout": options.math_timeout,
        "code_timeout": options.code_timeout,
        "code_memory_mb": options.code_memory_mb,
        "reward_model": str(options.reward_model.path) if options.reward_model else None,
        "reward_threshold": options.reward_model.threshold if options.reward_model else None,
        "judge": options.judge is not None,
        "labels": labels,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def verify_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    options: VerifyOptions | None = None,
    fields: RowFields | None = None,
    chunk_rows: int = 1000,
    audit_path: str | os.PathLike[str] | None = None,
    restart: bool = False,
    progress: bool = True,
    labels: str | None = None,
    disagreements_path: str | os.PathLike[str] | None = None,
) -> VerifyAudit:
    """Verifies every row of `input_path` into `output_path` (JSONL, gzip for `.gz`).

    Args:
        input_path: a file or folder of rows, AM schema or flat (any kind `amfast.io` reads:
            JSONL/.gz/.zst, Parquet, Arrow, `datasets` folders, a stage's output folder).
        output_path: where the rows go with their verdicts, in input order.
        options: how the verifiers run.
        fields: where flat rows keep prompt, response, reference, tests, source.
        chunk_rows: rows per resumable part.
        audit_path: where the audit JSON goes (default: `<output>.audit.json`).
        restart: discard the parts of an earlier run with other inputs or settings.
        progress: show a progress bar.
        labels: dotted path of a boolean verdict already in the rows (e.g. the harness's):
            the audit gains the agreement table, and every graded row whose verdict disagrees
            with its label goes to `disagreements_path`.
        disagreements_path: where the disagreements go, as JSONL (default:
            `<output>.disagreements.jsonl`); each line holds the row number, verifier, source,
            label, reason, the extracted answer and the verdict's detail.

    Raises:
        InputError: the input cannot be read, `<output>.parts` is from a different run, or
            `labels` names no boolean in the first chunk of rows.
    """
    source, output = Path(input_path), Path(output_path)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    if chunk_rows < 1:
        raise InputError("chunk_rows must be at least 1")
    options = options or VerifyOptions()
    fields = fields or RowFields()
    audit_path = audit_path or output.with_name(output.name + ".audit.json")
    if labels is not None:
        disagreements_path = disagreements_path or output.with_name(
            output.name + ".disagreements.jsonl"
        )
    parts = check_verify_outputs(source, output, audit_path, disagreements_path)
    fingerprint = _run_fingerprint(source, fields, options, chunk_rows, labels)
    marker = parts / "run.json"
    if marker.exists() and _recorded_fingerprint(marker) != fingerprint:
        if not restart:
            raise InputError(
                f"{parts} holds a run with another input or other settings; rerun with "
                "restart=True (--restart) to discard it"
            )
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    write_text_atomically(marker, json.dumps({"fingerprint": fingerprint}))

    audit = VerifyAudit()
    count = 0
    disagreements: list[Row] = []
    with tqdm(desc="verify", unit="row", disable=not progress) as bar:
        for number, chunk in enumerate(chunked(_iter_rows(source), chunk_rows)):
            if number == 0 and labels is not None:
                _check_labels(source, chunk, labels)
            done = _read_part(parts, number)
            if done is None:
                done = _verify_chunk(chunk, fields, options, labels)
                _write_part(parts, number, *done)
            else:
                retried = _retry_infra_errors(chunk, done, fields, options, labels)
                if retried is not None:
                    done = retried
                    _write_part(parts, number, *done)
            for position, entry in enumerate(done[1]):
                audit.add(
                    entry["verifier"],
                    entry["source"],
                    entry["reason"],
                    judged=entry.get("judged", False),
                    judge=entry.get("judge"),
                    label=entry.get("label"),
                    labelled=entry.get("labelled", False),
                )
                if "extracted" in entry:
                    row = number * chunk_rows + position
                    disagreements.append({"row": row} | _disagreement(entry))
            audit.unreadable_rows += sum(1 for row in chunk if isinstance(row, UnreadableRow))
            count += 1
            bar.update(len(chunk))
    with AtomicWriter(output) as temporary, _open_text_output(temporary, output) as out:
        for number in range(count):
            with (parts / f"part-{number:06d}.jsonl").open("rb") as part:
                shutil.copyfileobj(part, out)
    audit.save(audit_path)
    if disagreements_path is not None:
        with (
            AtomicWriter(disagreements_path) as temporary,
            temporary.open("w", encoding="utf-8") as out,
        ):
            for record in disagreements:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    if not audit.infrastructure_failures:
        shutil.rmtree(parts)  # else kept: a rerun retries those rows and rewrites the output
    return audit
