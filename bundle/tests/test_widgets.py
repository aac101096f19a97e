import pytest

from rag_code_files.local_dbutils import LocalDbutils
from rag_code_files.widgets import get_float, get_int


def dbutils_with(**values):
    d = LocalDbutils(values)
    for name in values:
        d.widgets.text(name, "")
    return d


def test_typed_parameters():
    d = dbutils_with(k="5", t="0.8")
    assert get_int(d, "k") == 5 and get_float(d, "t") == 0.8


@pytest.mark.parametrize("getter,value,message", [
    (get_int, "five", "parameter 'p' must be an integer, got 'five'"),
    (get_float, "", "parameter 'p' must be a number, got ''"),
])
def test_bad_parameters_name_the_parameter(getter, value, message):
    with pytest.raises(ValueError, match=message):
        getter(dbutils_with(p=value), "p")


def test_minimum():
    with pytest.raises(ValueError, match="at least 1"):
        get_int(dbutils_with(p="0"), "p", minimum=1)
