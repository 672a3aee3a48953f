"""Evaluation: OpenAI's Evals API, the graders we run ourselves, and the statistics that say
whether a fine-tune helped."""
