"""Graders executed by tuneforge itself: OpenAI's documented semantics for ``string_check``,
``text_similarity``, ``score_model``, ``label_model`` and ``multi``, plus our extensions
``json_schema``, ``json_fields`` and ``tool_call``."""
