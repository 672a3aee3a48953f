"""Datasets: streaming validation, token counting, billed tokens and format conversion."""
