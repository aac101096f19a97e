//! An alert whose settings live in a `.dbalert.json` (`file_path`), on the
//! remote backend beside the reference CLI on its test server: the request
//! both send is the file's settings (query lines joined, `file_path` left
//! out), and both record the same `resources.json` entry.

use serde_json::Value;

use crate::remote_kinds::{start, writes};
use crate::support::cli_remote::{assert_same_bodies, cli_state, root};
use e2e::cli_server::cli_binary;

const ALERT_YML: &str = "\
resources:
  alerts:
    a:
      warehouse_id: wh-1
      display_name: drift alarm
      file_path: ./alarm.dbalert.json
";

const ALERT_JSON: &str = r#"{
  "custom_summary": "Recall dropped",
  "evaluation": {
    "source": {"name": "recall", "display": "recall", "aggregation": "MIN"},
    "comparison_operator": "LESS_THAN",
    "threshold": {"value": {"double_value": 0.9}},
    "notification": {"retrigger_seconds": 60, "notify_on_ok": false}
  },
  "schedule": {"quartz_cron_schedule": "0 0 * * * ?", "timezone_id": "UTC"},
  "query_lines": ["select min(recall) as recall", "from main.ml.eval"]
}
"#;

fn entry(state: &Value) -> Value {
    state["state"]["resources.alerts.a"]["state"].clone()
}

#[test]
fn an_alert_from_its_file_deploys_as_the_cli() {
    let test = "an_alert_from_its_file_deploys_as_the_cli";
    let Some(r) = start(test, ALERT_YML) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    r.repo.write("resources/alarm.dbalert.json", ALERT_JSON);
    let copy = r.bundle_copy();
    let (ours, theirs) = r.deploy_beside(&cli, copy.path());
    assert_same_bodies(&ours, &theirs, &["POST /api/2.0/alerts"], |v| v);
    let ours = r.server.state(&root("test"), "resources.json");
    assert_eq!(entry(&ours), entry(&cli_state(copy.path())));
    assert_eq!(
        entry(&ours)["query_text"],
        "select min(recall) as recall\nfrom main.ml.eval\n"
    );
    assert!(entry(&ours).get("file_path").is_none(), "{ours}");

    // Nothing changed: nothing written, and no drift from the file's path.
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    assert!(w.iter().all(|l| l.contains("/workspace")), "{w:?}");
}
