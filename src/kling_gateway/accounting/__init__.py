"""Accounting: what a task costs (pricing), resource packs, the usage ledger and admission."""
