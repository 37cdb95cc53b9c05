"""The gateway app with the placement workflow installed, for tests that run it in subprocesses
(``uvicorn tests.placement.workflow.asgi_app:app``): every process asks the same ten facilities."""

from __future__ import annotations

from gateway.app import create_app
from gateway.placement.workflow_setup import install
from gateway.placement.workflow_types import WorkflowConfig
from tests.placement.workflow.support import CROWD, finder

app = create_app()
install(app, candidates=finder(CROWD), config=WorkflowConfig(top_n=len(CROWD)))
