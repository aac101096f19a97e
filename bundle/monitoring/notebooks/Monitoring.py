# Databricks notebook source
# MAGIC %md
# MAGIC # Monitoring
# MAGIC
# MAGIC From the inference log: latency percentiles, no-answer rate and query drift against the corpus of
# MAGIC the served model (`models:/<model_name>@champion`). Writes `report.json` and `report.md`, flags
# MAGIC metrics above their thresholds, records it all as an MLflow run of the experiment (metrics, the
# MAGIC `is_metric_violated` metric and tag, the reports as artifacts) and sets the task value
# MAGIC `is_metric_violated`. With `fail_on_violation` = "true" a violation fails the task.

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
dbutils.widgets.text("inference_log", "/dbfs/my_mlops_project_luv_v6/dev/inference/inference_log.jsonl", "Inference log")
dbutils.widgets.text("tracking_root", "/dbfs/my_mlops_project_luv_v6/dev/mlflow", "Local MLflow store (unused on Databricks)")
dbutils.widgets.text("experiment_name", "/Shared/dev-my_mlops_project_luv_v6-experiment", "Experiment name")
dbutils.widgets.text("model_name", "dev.my_mlops_project_luv_v6.rag_index", "Registered model name")
dbutils.widgets.text("alias", "champion", "Model alias whose corpus is the drift baseline")
dbutils.widgets.text("report_dir", "/dbfs/my_mlops_project_luv_v6/dev/monitoring", "Report folder")
dbutils.widgets.text("last_n", "1000", "Log records to consider (empty: all)")
dbutils.widgets.text("max_latency_p95_ms", "50", "Maximum p95 latency (ms)")
dbutils.widgets.text("max_no_answer_rate", "0.25", "Maximum no-answer rate")
dbutils.widgets.text("max_drift_oov_rate", "0.3", "Maximum share of query terms unknown to the corpus")
dbutils.widgets.text("fail_on_violation", "false", "Fail the task on a violation")
dbutils.widgets.text("git_source_info", "", "Git source of this deployment")

# COMMAND ----------

import json

from deployment.batch_inference import alias_version
from monitoring.monitor import log_report, monitor
from rag_code_files import model as rag_model
from rag_code_files.mlflow_store import configure
from rag_code_files.paths import resolve
from rag_code_files.widgets import get_float, get_int

store = configure(resolve(dbutils.widgets.get("tracking_root")))
model_name, alias = dbutils.widgets.get("model_name"), dbutils.widgets.get("alias")
version = alias_version(model_name, alias)
corpus_terms = rag_model.served_index(rag_model.load(f"models:/{model_name}/{version}")).term_counts
thresholds = {
    "latency_p95_ms": get_float(dbutils, "max_latency_p95_ms"),
    "no_answer_rate": get_float(dbutils, "max_no_answer_rate"),
    "drift_oov_rate": get_float(dbutils, "max_drift_oov_rate"),
}
last_n = get_int(dbutils, "last_n", minimum=1) if dbutils.widgets.get("last_n") else None
report_dir = resolve(dbutils.widgets.get("report_dir"))
report = monitor(resolve(dbutils.widgets.get("inference_log")), corpus_terms, thresholds, report_dir, last_n=last_n)
run_id = log_report(report, store, dbutils.widgets.get("experiment_name"), report_dir,
                    {"env": dbutils.widgets.get("env"), "model_name": model_name, "model_version": version,
                     "git_source_info": dbutils.widgets.get("git_source_info")})
print(json.dumps({**report, "mlflow_run_id": run_id}, indent=2))

# COMMAND ----------

dbutils.jobs.taskValues.set(key="is_metric_violated", value="true" if report["is_violated"] else "false")
if report["is_violated"] and dbutils.widgets.get("fail_on_violation") == "true":
    raise RuntimeError("monitoring thresholds violated: " + ", ".join(v["metric"] for v in report["violations"]))
