"""The local moderation rule set: checked before any credit moves.

A deliberately small, explainable list; where an OpenAI moderation endpoint is configured it
is consulted as well (generation work). Each rule carries the reason a person reads.
"""

from __future__ import annotations

import re

from chalicelib.errors import PromptRefused

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\b(child|children|kid|kids|minor|minors|underage|teen|teens)\b.*\b(nude|naked|sexual|sex)\b"
                   r"|\b(nude|naked|sexual|sex)\b.*\b(child|children|kid|kids|minor|minors|underage|teen|teens)\b",
                   re.IGNORECASE | re.DOTALL),
        "Prompts that sexualise minors are never generated.",
    ),
    (
        re.compile(r"\b(behead|beheading|dismember|dismembered|gore)\b", re.IGNORECASE),
        "Graphic violence and gore are not generated.",
    ),
    (
        re.compile(r"\b(bomb[- ]making|make (a )?bomb|build (a )?bomb)\b", re.IGNORECASE),
        "Instructions for weapons or explosives are not generated.",
    ),
)


def check_prompt(prompt: str) -> None:
    for pattern, reason in _RULES:
        if pattern.search(prompt):
            raise PromptRefused(f"This prompt was refused: {reason} No credits were charged.",
                                field="prompt")
