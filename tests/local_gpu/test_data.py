from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local_gpu.data import IGNORE_INDEX, ExampleTokenizer, load_examples, parse_record
from local_gpu.errors import DatasetError
from local_gpu.loading import load_tokenizer


def _supervised_text(tokenizer: Any, ids: list[int], labels: list[int]) -> str:
    kept = [token for token, label in zip(ids, labels, strict=True) if label != IGNORE_INDEX]
    return str(tokenizer.decode(kept))


def test_loss_falls_only_on_assistant_turns_with_weight(tiny_model_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_model_dir)
    record = parse_record(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Where does Ada live?"},
                {"role": "assistant", "content": "Ada lives in Oslo.", "weight": 0},
                {"role": "user", "content": "And Ken?"},
                {"role": "assistant", "content": "Ken lives in Lima."},
            ]
        },
        "mem.jsonl",
        1,
    )
    example, cut = ExampleTokenizer(tokenizer, 512).tokenize(record)
    assert not cut
    assert _supervised_text(tokenizer, example.input_ids, example.labels) == (
        "Ken lives in Lima.<|end|>\n"
    )
    labelled = [t for t, lab in zip(example.input_ids, example.labels, strict=True) if lab != -100]
    assert labelled == [lab for lab in example.labels if lab != IGNORE_INDEX]
    # The weight-0 reply is in the input (the model sees it) but carries no loss.
    assert "Ada lives in Oslo." in tokenizer.decode(example.input_ids)


def test_assistant_spans_match_the_templates_generation_mask(tiny_model_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_model_dir)
    messages = [
        {"role": "user", "content": "List 3 colors for Ada."},
        {"role": "assistant", "content": "Here are colors for Ada: red, teal, blue."},
        {"role": "user", "content": "Where does Ada live?"},
        {"role": "assistant", "content": "Ada lives in Paris."},
    ]
    example, _ = ExampleTokenizer(tokenizer, 512).tokenize(
        parse_record({"messages": messages}, "x", 1)
    )
    reference = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    assert example.input_ids == list(reference["input_ids"])
    ours = [int(label != IGNORE_INDEX) for label in example.labels]
    assert ours == list(reference["assistant_masks"])
    assert sum(ours) > 10


def test_prompt_completion_and_text_lines(tiny_model_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_model_dir)
    renderer = ExampleTokenizer(tokenizer, 512)
    pc, _ = renderer.tokenize(parse_record({"prompt": "Hi Ada.", "completion": "Hello."}, "x", 1))
    assert _supervised_text(tokenizer, pc.input_ids, pc.labels) == "Hello.<|end|>\n"
    text, _ = renderer.tokenize(parse_record({"text": "Ada lives in Riga."}, "x", 2))
    assert text.labels[0] == IGNORE_INDEX
    assert _supervised_text(tokenizer, text.input_ids, text.labels) == "Ada lives in Riga.<|end|>"


def test_truncation_is_counted(tiny_model_dir: Path, small_chat_file: Path) -> None:
    tokenizer = load_tokenizer(tiny_model_dir)
    data = load_examples(small_chat_file, tokenizer, max_seq_len=40)
    assert data.truncated > 0
    assert all(len(e.input_ids) <= 40 for e in data.examples)
    assert all(e.supervised_tokens > 0 for e in data.examples)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "line 2: invalid JSON"),
        ('{"messages": [{"role": "robot", "content": "x"}]}', "line 2: messages[0].role"),
        (
            '{"messages": [{"role": "user", "content": "a"}, '
            '{"role": "assistant", "content": "b", "weight": 2}]}',
            "line 2: messages[1].weight must be 0 or 1",
        ),
        (
            '{"messages": [{"role": "user", "content": "a"}, '
            '{"role": "assistant", "content": "b", "weight": 0}]}',
            "line 2: no assistant message with weight 1",
        ),
        (
            '{"input": {"messages": []}, "preferred_output": [], "non_preferred_output": []}',
            "line 2: preference (DPO) record",
        ),
        ('{"prompt": "a"}', "line 2: 'prompt' and 'completion'"),
        ('{"foo": 1}', "line 2: expected 'messages'"),
    ],
)
def test_bad_lines_name_the_line_and_field(
    tiny_model_dir: Path, tmp_path: Path, line: str, expected: str
) -> None:
    good = json.dumps({"prompt": "a", "completion": "b"})
    path = tmp_path / "bad.jsonl"
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DatasetError) as raised:
        load_examples(path, load_tokenizer(tiny_model_dir), 128)
    assert expected in str(raised.value)
    assert raised.value.line == 2
