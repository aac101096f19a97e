# Databricks notebook source
# MAGIC %md
# MAGIC # Model deployment
# MAGIC
# MAGIC Registers the validated index as a new version of the registered model and moves the alias
# MAGIC (`champion`) to it, only when validation passed.

# COMMAND ----------

# Make the bundle root importable when run as `python <notebook>.py`; Databricks and the local job
# runner already put it on the path. Notebooks live in <bundle>/<package>/notebooks/.
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
_root = os.path.abspath(os.path.join(_here, "..", ".."))
if _root not in sys.path:
    sys.path.insert(0, _root)

# COMMAND ----------

try:
    dbutils  # injected on Databricks and by the local job runner
except NameError:
    from rag_code_files.local_dbutils import LocalDbutils

    dbutils = LocalDbutils.from_argv()

dbutils.widgets.text("env", "dev", "Environment")
dbutils.widgets.text("tracking_root", "/dbfs/my_mlops_project_luv_v6/dev/mlflow", "Experiment tracking root")
dbutils.widgets.text("experiment_name", "/Shared/dev-my_mlops_project_luv_v6-experiment", "Experiment name")
dbutils.widgets.text("registry_root", "/dbfs/my_mlops_project_luv_v6/dev/registry", "Model registry root")
dbutils.widgets.text("model_name", "dev.my_mlops_project_luv_v6.rag_index", "Registered model name")
dbutils.widgets.text("alias", "champion", "Alias to move")
dbutils.widgets.text("git_source_info", "", "Git source of this deployment")

# COMMAND ----------

import json

from deployment.deploy import deploy
from deployment.registry import LocalModelRegistry
from rag_code_files.paths import resolve
from training.tracking import ExperimentTracker

tracker = ExperimentTracker(resolve(dbutils.widgets.get("tracking_root")), dbutils.widgets.get("experiment_name"))
run_id = dbutils.jobs.taskValues.get(taskKey="ModelValidation", key="run_id", default="", debugValue="")
verdict = dbutils.jobs.taskValues.get(taskKey="ModelValidation", key="validation_passed", default="", debugValue="")
run = tracker.get_run(run_id) if run_id else tracker.latest_run()
if run is None:
    raise RuntimeError(f"no finished run in experiment {tracker.experiment_name}; run the Train task first")

# COMMAND ----------

result = deploy(
    run,
    LocalModelRegistry(resolve(dbutils.widgets.get("registry_root"))),
    dbutils.widgets.get("model_name"),
    alias=dbutils.widgets.get("alias"),
    # Without a verdict from the validation task, the run's own validation record decides.
    validation_passed=None if verdict == "" else verdict == "true",
)
print(json.dumps({"run_id": run.run_id, "promoted": result.promoted, "version": result.version,
                  "reason": result.reason}, indent=2))
dbutils.jobs.taskValues.set(key="model_version", value=result.version or 0)
