import pytest

from rag_code_files.local_dbutils import LocalDbutils


def test_widgets_return_defaults_overridden_by_arguments():
    dbutils = LocalDbutils.from_argv(["k=7", "--name=x=y"])
    dbutils.widgets.text("k", "5", "k")
    dbutils.widgets.text("m", "0.8")
    dbutils.widgets.text("name", "")
    assert dbutils.widgets.get("k") == "7"
    assert dbutils.widgets.get("m") == "0.8"
    assert dbutils.widgets.get("name") == "x=y"
    with pytest.raises(KeyError):
        dbutils.widgets.get("undeclared")


def test_bad_argument_is_rejected():
    with pytest.raises(SystemExit):
        LocalDbutils.from_argv(["novalue"])


def test_task_values_outside_a_job_return_debug_value():
    dbutils = LocalDbutils()
    dbutils.jobs.taskValues.set(key="run_id", value="r1")
    assert dbutils.jobs.taskValues.get(taskKey="Train", key="run_id", default="d", debugValue="") == ""
    assert dbutils.jobs.taskValues.get(taskKey="Train", key="run_id", default="d") == "d"
    with pytest.raises(TypeError):
        dbutils.jobs.taskValues.set(key="bad", value=object())


def test_notebook_exit_stops_the_notebook():
    with pytest.raises(SystemExit):
        LocalDbutils().notebook.exit("done")
