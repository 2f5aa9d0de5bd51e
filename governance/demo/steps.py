"""The demo's later steps, in order; each workflow adds its own step here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from governance.demo.activity import create_demo_activity
from governance.demo.agreements import create_demo_agreements
from governance.demo.analyses import create_analysis_data, run_demo_analysis
from governance.demo.annual_audit import create_demo_audit
from governance.demo.datasets import create_demo_datasets
from governance.demo.outputs import create_demo_outputs

DemoStep = Callable[..., Any]
STEPS: list[DemoStep] = [
    create_demo_datasets,
    create_analysis_data,
    create_demo_agreements,
    run_demo_analysis,
    create_demo_outputs,
    create_demo_activity,
    create_demo_audit,
]
