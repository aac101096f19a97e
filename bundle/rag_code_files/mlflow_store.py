"""Where MLflow records runs and registers models.

On Databricks the runs go to the workspace experiment and the models to Unity Catalog
(`databricks-uc`), as the bundle's resources declare them. Anywhere else (the local job runner, a
plain `python notebook.py`, the tests) there is nothing to start: a SQLite database and an
artifact folder inside `local_root`, a folder the job passes (`${var.data_dir}/mlflow`, which the
local runner maps into the deployed environment). The choice never reads `MLFLOW_TRACKING_URI`:
`mlflow.set_tracking_uri` itself sets that variable, so a second `configure` in the same process
would otherwise keep the first store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# MLflow 3 sends usage telemetry unless told not to; this project talks to no one but its stores.
# Set before mlflow is imported anywhere in the process (it reads the variable lazily, but early is safe).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

DB_FILE = "mlflow.db"
ARTIFACTS = "artifacts"


@dataclass(frozen=True)
class Store:
    tracking_uri: str
    registry_uri: str
    # Where new experiments keep their artifacts; None lets the server decide (Databricks).
    artifact_root: str | None


def on_databricks() -> bool:
    return bool(os.environ.get("DATABRICKS_RUNTIME_VERSION"))


def local_store(local_root: str | os.PathLike) -> Store:
    root = Path(local_root).resolve()
    uri = f"sqlite:///{root / DB_FILE}"
    return Store(uri, uri, (root / ARTIFACTS).as_uri())


def choose_store(local_root: str | os.PathLike) -> Store:
    if on_databricks():
        return Store("databricks", "databricks-uc", None)
    return local_store(local_root)


def configure(local_root: str | os.PathLike) -> Store:
    """Point this process's MLflow at the store for where it runs; create the local folder."""
    import mlflow

    store = choose_store(local_root)
    if store.tracking_uri.startswith("sqlite:///"):
        Path(store.tracking_uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.registry_uri)
    return store


def experiment_id(store: Store, name: str) -> str:
    """The id of experiment `name`, created on first use with its artifacts in the store's folder.

    An explicit artifact location matters locally: without one MLflow writes `./mlruns` in the
    working directory, which under the job runner is the deployed (read-only) copy of the bundle.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if store.artifact_root:
        location = f"{store.artifact_root}/{name.strip('/').replace('/', '_') or 'default'}"
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:
        # Another task created it between the lookup and the create.
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id
