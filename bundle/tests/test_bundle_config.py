"""Consistency of databricks.yml, resources/*.yml and the notebooks they run.

The project has no YAML dependency, so the few facts checked here are read with a small
indentation-based reader; the full schema is checked by the bundle tooling.
"""

import re

import pytest

from rag_code_files.paths import BUNDLE_ROOT

RESOURCES = sorted((BUNDLE_ROOT / "resources").glob("*.yml"))
NOTEBOOKS = sorted(BUNDLE_ROOT.glob("*/notebooks/*.py"))


def indent(line):
    return len(line) - len(line.lstrip(" "))


def block_keys(lines, start):
    """Keys of the mapping nested under lines[start]."""
    base, keys = indent(lines[start]), []
    for line in lines[start + 1 :]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if indent(line) <= base:
            break
        m = re.match(r"^(\s+)([A-Za-z0-9_]+):", line)
        if m and (not keys or len(m.group(1)) == keys[0][0]):
            keys.append((len(m.group(1)), m.group(2)))
    return [k for _, k in keys]


def notebook_tasks(path):
    lines = path.read_text().splitlines()
    tasks, current = [], None
    for i, line in enumerate(lines):
        m = re.match(r"^\s+notebook_path:\s*(\S+)", line)
        if m:
            current = {"path": (path.parent / m.group(1)).resolve(), "params": []}
            tasks.append(current)
        elif line.strip() == "base_parameters:" and current is not None:
            current["params"] = block_keys(lines, i)
    return tasks


def test_bundle_name_targets_and_includes():
    text = (BUNDLE_ROOT / "databricks.yml").read_text()
    lines = text.splitlines()
    assert "  name: my_mlops_project_luv_v6" in lines
    targets = block_keys(lines, lines.index("targets:"))
    assert targets == ["dev", "test", "staging", "prod"]
    includes = re.findall(r"^\s+- \./(resources/\S+\.yml)$", text, re.M)
    assert sorted(BUNDLE_ROOT / p for p in includes) == RESOURCES


def test_every_variable_reference_is_declared():
    lines = (BUNDLE_ROOT / "databricks.yml").read_text().splitlines()
    declared = set(block_keys(lines, lines.index("variables:")))
    assert {"experiment_name", "model_name", "catalog_name", "data_dir"} <= declared
    for path in [BUNDLE_ROOT / "databricks.yml", *RESOURCES]:
        used = set(re.findall(r"\$\{var\.([A-Za-z0-9_]+)\}", path.read_text()))
        assert used <= declared, f"{path.name}: undeclared {used - declared}"


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda p: p.name)
def test_notebook_tasks_exist_and_declare_their_parameters(resource):
    for task in notebook_tasks(resource):
        assert task["path"].is_file(), f"{resource.name}: missing {task['path']}"
        source = task["path"].read_text()
        widgets = set(re.findall(r'dbutils\.widgets\.text\("([^"]+)"', source))
        missing = set(task["params"]) - widgets
        assert not missing, f"{task['path'].name} does not declare widgets {missing}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_databricks_source_notebooks(notebook):
    source = notebook.read_text()
    assert source.startswith("# Databricks notebook source\n")
    assert "# COMMAND ----------" in source and "# MAGIC %md" in source
    declared = set(re.findall(r'dbutils\.widgets\.text\("([^"]+)"', source))
    read = set(re.findall(r'dbutils\.widgets\.get\("([^"]+)"\)', source))
    assert read and read <= declared
    compile(source, str(notebook), "exec")


def test_integration_jobs_are_tagged_in_order():
    tagged = {}
    for resource in RESOURCES:
        text = resource.read_text()
        for job, order in re.findall(
            r"^    (\w+):\n(?:      .*\n)*?      tags:\n        integration: \"true\"\n        integration_order: \"(\d+)\"",
            text, re.M,
        ):
            tagged[job] = int(order)
    assert tagged == {"document_ingestion_job": 1, "model_training_job": 2, "batch_inference_job": 3,
                      "monitoring_job": 4}


def test_training_job_chains_train_then_validate():
    # Train registers a candidate version; ModelValidation gives it the alias only when it passes.
    text = (BUNDLE_ROOT / "resources/model-workflow-resource.yml").read_text()
    keys = re.findall(r"task_key: (\w+)", text)
    assert keys == ["Train", "ModelValidation", "Train"]


def test_every_job_uses_the_same_mlflow_store_and_model():
    # Training registers into the store that batch inference and monitoring read the champion from.
    roots, models = set(), set()
    for path in RESOURCES:
        text = path.read_text()
        roots.update(re.findall(r"^\s+tracking_root: (\S+)", text, re.M))
        models.update(re.findall(r"^\s+model_name: (\S+)", text, re.M))
    assert roots == {"${var.data_dir}/mlflow"}
    assert models == {"${var.catalog_name}.${bundle.name}.${var.model_name}"}
