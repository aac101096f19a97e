//! The CLI's advice on top-level `permissions` (`bundle/permissions/
//! permission_diagnostics.go` and `validate.go`): who can manage the bundle,
//! and a root under `/Workspace/Shared/` that every user could write.

use crate::config::ctx::Ctx;
use crate::config::yaml::Node;
use crate::diag::Diagnostic;

/// A recommendation when `permissions` are set but give the deploying
/// identity (or one of its groups) no `CAN_MANAGE`.
pub fn current_identity_included(ctx: &mut Ctx, root: &Node) {
    let Some(perms) = root.get("permissions") else {
        return;
    };
    let Some(list) = perms.as_seq().filter(|l| !l.is_empty()) else {
        return;
    };
    let user = root
        .at(&["workspace", "current_user", "userName"])
        .and_then(Node::as_str)
        .unwrap_or("");
    let groups: Vec<&str> = root
        .at(&["workspace", "current_user", "groups"])
        .and_then(Node::as_seq)
        .map(|g| g.iter().map(|g| g.text("display")).collect())
        .unwrap_or_default();
    let manages = list.iter().any(|p| {
        p.text("level") == "CAN_MANAGE"
            && (p.text("user_name") == user
                || p.text("service_principal_name") == user
                || groups.contains(&p.text("group_name")))
    });
    if manages {
        return;
    }
    let field = if crate::config::defaults::is_service_principal(user) {
        "service_principal_name"
    } else {
        "user_name"
    };
    let msg = format!(
        "permissions section should explicitly include the current deployment identity '{user}' or one of its groups\n\
         If it is not included, CAN_MANAGE permissions are only applied if the present identity is used to deploy.\n\n\
         Consider using a adding a top-level permissions section such as the following:\n\n  \
         permissions:\n    - {field}: {user}\n      level: CAN_MANAGE\n\n\
         See https://docs.databricks.com/dev-tools/bundles/permissions.html to learn more about permission configuration."
    );
    ctx.push(Diagnostic::recommendation(msg), Some(perms.loc), "");
}

/// A warning when the root is under `/Workspace/Shared/` and the `users`
/// group is not given `CAN_MANAGE` on purpose.
pub fn shared_root(ctx: &mut Ctx, root: &Node) {
    let Some(path) = root.at(&["workspace", "root_path"]).and_then(Node::as_str) else {
        return;
    };
    if !path.starts_with("/Workspace/Shared/") {
        return;
    }
    let all_users = root
        .get("permissions")
        .and_then(Node::as_seq)
        .is_some_and(|l| {
            l.iter()
                .any(|p| p.text("group_name") == "users" && p.text("level") == "CAN_MANAGE")
        });
    if !all_users {
        let d = Diagnostic::warning(format!("the bundle root path {path} is writable by all workspace users"))
            .detail("The bundle is configured to use /Workspace/Shared, which will give read/write access to all users. If this is intentional, add CAN_MANAGE for 'group_name: users' permission to your bundle configuration. If the deployment should be restricted, move it to a restricted folder such as /Workspace/Users/<username or principal name>.");
        ctx.push(d, None, "");
    }
}
