//! Unit tests of the gates' pure parts.

use super::failed_tests;

#[test]
fn failed_tests_are_named_with_their_assertion_and_capped() {
    let log = "\
..F.E                                                                    [100%]
=================================== FAILURES ===================================
___________________________________ test_b ____________________________________
    def test_b():
>       assert 1 == 2
E       assert 1 == 2
=========================== short test summary info ============================
FAILED tests/test_x.py::test_b - assert 1 == 2
ERROR tests/test_x.py::test_e - RuntimeError: no fixture
1 failed, 3 passed, 1 error in 0.05s
";
    assert_eq!(
        failed_tests(log),
        "\n  FAILED tests/test_x.py::test_b - assert 1 == 2\n  ERROR tests/test_x.py::test_e - RuntimeError: no fixture"
    );
    // Lines that merely mention the words are not failures.
    assert_eq!(failed_tests("E       assert FAILED == x\n1 passed\n"), "");
    let many: String = (0..12)
        .map(|i| format!("FAILED t.py::t{i} - boom\n"))
        .collect();
    let shown = failed_tests(&many);
    assert_eq!(shown.matches("FAILED").count(), 10);
    assert!(shown.ends_with("... and 2 more"), "{shown}");
}
