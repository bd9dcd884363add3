"""Prompting (DeepSeek-R1 rules), reply wrapping into the AM schema, and reading prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from amfast.distill.inputs import read_prompts
from amfast.distill.prompting import (
    R1_MATH_DIRECTIVE,
    PromptOptions,
    PromptSpec,
    SampleFacts,
    am_sample,
    messages_for,
    split_reply,
)
from amfast.generate.backend import (
    R1_COMPLETION_TEMPLATE,
    GenerationResult,
    Message,
    completion_prompt,
)
from amfast.schema import FieldMap


def test_r1_defaults_no_system_prompt_and_math_directive_only_for_math() -> None:
    math = PromptSpec("m", "What is 2+2?", reference_answer="4")
    code = PromptSpec("c", "Write f.", reference_answer="x", test_case={"inputs": [1]})
    chat = PromptSpec("p", "Write a poem.")
    assert messages_for(math, PromptOptions()) == (
        Message("user", f"What is 2+2?\n{R1_MATH_DIRECTIVE}"),
    )
    assert messages_for(code, PromptOptions()) == (Message("user", "Write f."),)
    assert messages_for(chat, PromptOptions()) == (Message("user", "Write a poem."),)
    assert PromptOptions().reply_prefix == "<think>\n"


def test_templates_and_system_prompt_are_configurable() -> None:
    options = PromptOptions(
        system_prompt="Be brief.", user_template="Q: {prompt}", math_directive_for="all"
    )
    messages = messages_for(PromptSpec("p", "Hi"), options)
    assert messages == (
        Message("system", "Be brief."),
        Message("user", f"Q: Hi\n{R1_MATH_DIRECTIVE}"),
    )


def test_completion_prompt_uses_deepseek_r1_format_and_forced_think() -> None:
    text = completion_prompt((Message("user", "1+1?"),), R1_COMPLETION_TEMPLATE, "<think>\n", True)
    bar = "\uff5c"
    expected = f"<{bar}begin\u2581of\u2581sentence{bar}><{bar}User{bar}>1+1?<{bar}Assistant{bar}>"
    assert text == expected + "<think>\n"


def test_split_reply_prefers_reasoning_content_and_handles_unclosed_thinking() -> None:
    split = GenerationResult("k", "<think></think>The answer is 4.", reasoning=" add \n")
    assert split_reply(split, "<think>\n") == ("add", "The answer is 4.")
    unclosed = GenerationResult("k", "still thinking", finish_reason="length")
    assert split_reply(unclosed, "<think>\n") == ("still thinking", "")
    unforced = GenerationResult("k", "just an answer", prefilled=False)
    assert split_reply(unforced, "<think>\n") == ("", "just an answer")
    template_opened = GenerationResult("k", "hmm\n</think>\n42", prefilled=False)
    assert split_reply(template_opened, "<think>\n") == ("hmm", "42")


def test_am_sample_has_the_am_schema_and_generation_metadata() -> None:
    spec = PromptSpec("p1", "1+1?", reference_answer="2", source="gsm8k")
    result = GenerationResult("p1:3", "one plus one\n</think>\n\\boxed{2}", None, "stop", 12, 30)
    row = am_sample(spec, result, SampleFacts(3, 99, 2, "openai", "m", "deepseek-r1"), "<think>\n")
    user, assistant = row["messages"]
    assert (row["key"], row["prompt_id"], row["sample_index"]) == ("p1:3", "p1", 3)
    assert user == {
        "role": "user",
        "content": "1+1?",
        "info": {"source": "gsm8k", "reference_answer": "2", "test_case": None},
    }
    assert assistant["content"] == "<think>one plus one</think>\n<answer>\\boxed{2}</answer>"
    info = assistant["info"]
    assert (info["think_content"], info["answer_content"]) == ("one plus one", "\\boxed{2}")
    assert (info["source"], info["finish_reason"], info["seed"], info["attempts"]) == (
        "deepseek-r1",
        "stop",
        99,
        2,
    )
    assert (info["prompt_tokens"], info["completion_tokens"]) == (12, 30)
    assert (info["backend"], info["model"]) == ("openai", "m")


def test_read_prompts_names_each_bad_row_and_keeps_the_rest(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": "a", "prompt": "fine"}),
        json.dumps({"id": "b", "question": "no prompt field"}),
        json.dumps({"id": "c", "prompt": "   "}),
        "{not json",
        json.dumps({"id": "a", "prompt": "same id again"}),
        json.dumps({"prompt": 7}),
        json.dumps({"prompt": "no id: hashed"}),
    ]
    source.write_text("\n".join(lines) + "\n")
    prompts = read_prompts(source, prompt_field="prompt")
    assert [s.prompt for s in prompts.specs] == ["fine", "no id: hashed"]
    errors = {bad.location.rsplit(":", 1)[1]: bad.error for bad in prompts.bad_rows}
    assert errors["2"] == "prompt field 'prompt' is missing"
    assert errors["3"] == "prompt field 'prompt' is empty"
    assert errors["4"].startswith("invalid JSON")
    assert errors["5"].startswith("duplicate id (prompt id a, first at ")
    assert errors["6"] == "prompt field 'prompt' is int, expected a string"
    assert len(prompts.specs[1].prompt_id) == 16


def test_read_prompts_takes_am_schema_rows_and_parquet(tmp_path: Path) -> None:
    row = {
        "id": "r1",
        "messages": [
            {
                "role": "user",
                "content": "Sum 2 and 3.",
                "info": {"source": "demo", "reference_answer": "5", "test_case": None},
            },
            {"role": "assistant", "content": "old answer", "info": {}},
        ],
    }
    path = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist([row]), path)
    (spec,) = read_prompts(path).specs
    assert (spec.prompt_id, spec.prompt, spec.reference_answer, spec.source) == (
        "r1",
        "Sum 2 and 3.",
        "5",
        "demo",
    )
    assert spec.is_math


def test_flat_rows_of_a_clean_output_folder_carry_reference_and_get_the_math_directive(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "clean"
    folder.mkdir()
    rows = [
        {"unique_id": "u1", "problem": "1+1?", "answer": "2", "subject": "Algebra"},
        {"id": "c1", "question": "Write f.", "tests": [{"input": "1", "output": "2"}]},
    ]
    (folder / "part-00000.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    pq.write_table(pa.Table.from_pylist([{"row": 1}]), folder / "dropped.parquet")  # not input
    fields = FieldMap(id="unique_id", source="subject")
    math, code = read_prompts(folder, fields=fields).specs
    assert (math.prompt_id, math.reference_answer, math.source) == ("u1", "2", "Algebra")
    last = [m.content for m in messages_for(math, PromptOptions())][-1]
    assert last.endswith(R1_MATH_DIRECTIVE)
    assert code.test_case == [{"input": "1", "output": "2"}]
    assert not code.is_math
