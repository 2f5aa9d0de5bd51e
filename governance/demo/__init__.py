"""The demo world: a research lab, two provider agencies and one person per role.

Deterministic: the same command on an empty database always builds the same world, so the
README's tour and the browser tests can rely on it. Later steps add agreements, datasets,
grants and analyses (see steps.py).
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from governance.demo.people import DEMO_PASSWORD, create_people
from governance.demo.steps import STEPS

__all__ = ["DEMO_PASSWORD", "load_demo"]


def load_demo(session: Session, *, app: Flask, people: int | None = None) -> list[tuple[Any, ...]]:
    """Load everything and return the logins to print (e-mail, role, organisation)."""
    world = create_people(session, password_min_length=app.config["PASSWORD_MIN_LENGTH"])
    for step in STEPS:
        step(session, world, app=app, people=people)
    return world.logins()
