"""Promote a validated training run: register its index as a new version and move the alias."""

from __future__ import annotations

from dataclasses import dataclass

from deployment.registry import LocalModelRegistry
from training.tracking import Run


@dataclass
class DeployResult:
    promoted: bool
    version: int | None
    reason: str


def deploy(run: Run, registry: LocalModelRegistry, model_name: str, alias: str = "champion",
           validation_passed: bool | None = None) -> DeployResult:
    """Register and promote only a run whose validation passed.

    The verdict comes from the validation task (task value) when given, else from the run's own
    record, so a run that was never validated is never promoted.
    """
    if validation_passed is None:
        validation_passed = run.meta.get("tags", {}).get("validation_passed") == "true"
    if run.meta.get("status") != "FINISHED":
        return DeployResult(False, None, f"run {run.run_id} did not finish (status {run.meta.get('status')})")
    if not validation_passed:
        return DeployResult(False, None, f"run {run.run_id} did not pass validation; {alias} unchanged")
    artifact = run.meta.get("artifacts", {}).get("index")
    if not artifact:
        return DeployResult(False, None, f"run {run.run_id} has no index artifact")
    version = registry.register(model_name, artifact, run.run_id, run.metrics,
                                {"experiment": run.meta.get("experiment", "")})
    registry.set_alias(model_name, alias, version)
    run.set_tags({"registered_version": version})
    return DeployResult(True, version, f"registered {model_name} version {version} as {alias}")
