"""Trainer: base model, chat template, assistant-only masks, SFT then DPO (or KTO) with TRL, merge (SPEC 7)."""
