//! `${...}` interpolation: `${var.x}` (= `${variables.x.value}`),
//! `${bundle.*}`, `${workspace.*}` and `${variables.*}`, in rounds until
//! nothing changes (at most 11, as the CLI). `${resources.*}` and other
//! prefixes stay as text: they are resolved at deploy time.

use std::collections::{BTreeSet, HashSet};

use crate::config::ctx::Ctx;
use crate::config::vars::Lookups;
use crate::config::yaml::{Loc, Node, Value};
use crate::diag::edit_distance;

const ROUNDS: usize = 11;
/// No string grows past this by interpolation: `v: "${var.w}${var.w}"`
/// chains double a value per level, and a value this long is never meant.
const MAX_LEN: usize = 1 << 20;
const PREFIXES: [&str; 3] = ["bundle", "workspace", "variables"];
/// No value is nested deeper than this by interpolation. A complex value
/// that refers to itself nests twice as deep each round: the CLI's
/// `complex-cycle` reaches 2,051 levels after 11 rounds, and this tool
/// prints the same; one more level written there doubles to 3,000 and
/// more. The passes after this one recurse per level (about 1.7 KB of
/// stack each in a debug build), so the limit keeps well inside the main
/// thread's 8 MB.
const MAX_DEPTH: usize = 2560;
/// Nor does interpolation copy more values than this in all (a bundle's
/// complex variables, copied into each use, come to a few thousand): a
/// complex value that refers to itself twice squares its size each round.
const MAX_COPIED: usize = 1 << 17;

/// One `${...}` in a string: byte range and the path inside.
#[derive(Debug, Clone, PartialEq)]
pub struct Ref {
    pub start: usize,
    pub end: usize,
    pub path: String,
}

/// Find references with the CLI's grammar:
/// `SEG(.SEG([\d+])*)*([\d+])*` with `SEG = \p{L}+([-_]*[\p{L}\p{N}]+)*`.
pub fn find_refs(s: &str) -> Vec<Ref> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = s[from..].find("${") {
        let start = from + i;
        match parse_ref(&s[start + 2..]) {
            Some(len) => {
                out.push(Ref {
                    start,
                    end: start + 2 + len + 1,
                    path: s[start + 2..start + 2 + len].to_string(),
                });
                from = start + 2 + len + 1;
            }
            None => from = start + 2,
        }
    }
    out
}

/// Length of a valid path at the start of `s` followed by `}`.
fn parse_ref(s: &str) -> Option<usize> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut i = 0;
    loop {
        // A segment: a letter, then letters, digits, `-`, `_`, ending alphanumeric.
        if !chars.get(i).is_some_and(|(_, c)| c.is_alphabetic()) {
            return None;
        }
        while chars
            .get(i)
            .is_some_and(|(_, c)| c.is_alphanumeric() || *c == '-' || *c == '_')
        {
            i += 1;
        }
        if !chars[i - 1].1.is_alphanumeric() {
            return None;
        }
        while chars.get(i).is_some_and(|(_, c)| *c == '[') {
            let digits_from = i + 1;
            let mut j = digits_from;
            while chars.get(j).is_some_and(|(_, c)| c.is_ascii_digit()) {
                j += 1;
            }
            if j == digits_from || chars.get(j).is_none_or(|(_, c)| *c != ']') {
                return None;
            }
            i = j + 1;
        }
        match chars.get(i) {
            Some((_, '.')) => i += 1,
            Some((pos, '}')) => return Some(*pos),
            _ => return None,
        }
    }
}

/// `var.x.y` → `variables.x.value.y`.
fn normalize(path: &str) -> String {
    match path.strip_prefix("var.") {
        Some(rest) => {
            let (name, tail) = split_first(rest);
            format!("variables.{name}.value{tail}")
        }
        None => path.to_string(),
    }
}

fn split_first(p: &str) -> (&str, &str) {
    let end = p.find(['.', '[']).unwrap_or(p.len());
    (&p[..end], &p[end..])
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for seg in path.split('.') {
        let (key, mut rest) = seg.split_at(seg.find('[').unwrap_or(seg.len()));
        out.push(Step::Key(key));
        while let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').unwrap_or(r.len());
            out.push(Step::Index(r[..close].parse().unwrap_or(usize::MAX)));
            rest = r.get(close + 1..).unwrap_or("");
        }
    }
    out
}

fn lookup<'a>(root: &'a Node, path: &str) -> Option<&'a Node> {
    steps(path).into_iter().try_fold(root, |n, s| match s {
        Step::Key(k) => n.get(k),
        Step::Index(i) => n.as_seq().and_then(|v| v.get(i)),
    })
}

/// The CLI's text when a reference indexes into a value that is no map (or
/// no sequence), e.g. a variable whose value is still a `${...}` string:
/// `expected a map to index "variables.a.value.name", found string`
/// (libs/dyn/visit.go). `None` when the path is only missing.
fn index_error(root: &Node, path: &str) -> Option<String> {
    let mut n = root;
    let mut at = String::new();
    for step in steps(path) {
        let (want, next) = match step {
            Step::Key(k) => {
                at.push_str(&if at.is_empty() {
                    k.to_string()
                } else {
                    format!(".{k}")
                });
                ("map", n.as_map().map(|_| n.get(k)))
            }
            Step::Index(i) => {
                at.push_str(&format!("[{i}]"));
                ("sequence", n.as_seq().map(|v| v.get(i)))
            }
        };
        match next {
            Some(Some(child)) => n = child,
            Some(None) => return None,
            None => {
                let found = match &n.v {
                    Value::Str(_) => "string",
                    Value::Map(_) => "map",
                    Value::Seq(_) => "sequence",
                    Value::Bool(_) => "bool",
                    Value::Int(_) => "int",
                    Value::Float(_) => "float",
                    Value::Null => "nil",
                };
                return Some(format!("expected a {want} to index {at:?}, found {found}"));
            }
        }
    }
    None
}

fn has_refs(n: &Node, lookups: &Lookups) -> bool {
    match &n.v {
        Value::Str(s) => find_refs(s).iter().any(|r| resolvable(&r.path, lookups)),
        Value::Seq(v) => v.iter().any(|c| has_refs(c, lookups)),
        Value::Map(m) => m.iter().any(|e| has_refs(&e.node, lookups)),
        _ => false,
    }
}

/// The fields of `workspace.current_user` that the CLI copies from SCIM `Me`
/// (`bundle/config/mutator/populate_current_user.go`: the SDK's `iam.User`
/// plus `short_name` and `domain_friendly_name`) and that cannot be derived
/// from a user name: a reference to one is left as text locally, with a
/// warning, as a workspace lookup is.
const SCIM_ONLY: [&str; 10] = [
    "displayName",
    "id",
    "active",
    "emails",
    "name",
    "groups",
    "entitlements",
    "roles",
    "externalId",
    "schemas",
];

/// `Some(field)` when `path` (normalized) names a SCIM-only user field that
/// the workspace did not tell (`known` holds `workspace.current_user.<field>`
/// for each field it told; no variable name has a dot, so they never clash).
fn scim_only<'a>(path: &'a str, known: &Lookups) -> Option<&'a str> {
    let rest = path.strip_prefix("workspace.current_user.")?;
    let field = rest.split(['.', '[']).next()?;
    let told = known.contains_key(&format!("workspace.current_user.{field}"));
    (SCIM_ONLY.contains(&field) && !told).then_some(field)
}

/// `lookups` plus the SCIM fields present in `root` (see [`scim_only`]).
fn with_known_user(root: &Node, lookups: &Lookups) -> Lookups {
    let mut out = lookups.clone();
    if let Some(cu) = root
        .at(&["workspace", "current_user"])
        .and_then(Node::as_map)
    {
        for e in cu.iter().filter(|e| SCIM_ONLY.contains(&e.key.as_str())) {
            out.insert(format!("workspace.current_user.{}", e.key), String::new());
        }
    }
    out
}

/// A reference this stage resolves: `bundle`, `workspace` or `variables`,
/// except variables whose value is a workspace lookup (left as text).
fn resolvable(path: &str, lookups: &Lookups) -> bool {
    let n = normalize(path);
    let (head, rest) = split_first(&n);
    if !PREFIXES.contains(&head) || scim_only(&n, lookups).is_some() {
        return false;
    }
    let var = rest.strip_prefix('.').map(|r| split_first(r).0);
    !(head == "variables" && var.is_some_and(|v| lookups.contains_key(v)))
}

fn scalar_text(n: &Node) -> Option<String> {
    Some(match &n.v {
        Value::Str(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Null => String::new(),
        _ => return None,
    })
}

/// Resolve every reference in `root` (in place), reporting unknown ones.
pub fn resolve(ctx: &mut Ctx, root: &mut Node, lookups: &Lookups) {
    let lookups = &with_known_user(root, lookups);
    let mut problems: BTreeSet<(bool, String, u32, u32, u32)> = BTreeSet::new();
    // A snapshot is taken after each round that changed something only: the
    // copy is most of the cost of resolving, and a round that changed nothing
    // leaves the last one current.
    let mut snapshot = sections(root);
    let mut copied = 0;
    for _ in 0..ROUNDS {
        let mut changed = false;
        walk(root, 0, &mut |n, depth| {
            let at = At {
                snapshot: &snapshot,
                lookups,
                depth,
            };
            changed |= substitute(n, &at, &mut copied, &mut problems)
        });
        // Past the copy limit every further round only grows what is left.
        if !changed || copied > MAX_COPIED {
            break;
        }
        snapshot = sections(root);
    }
    let mut reported_lookups = BTreeSet::new();
    let mut scim = BTreeSet::new();
    let mut cycles = Vec::new();
    walk_ref(root, &mut |n| {
        let Value::Str(s) = &n.v else { return };
        for r in find_refs(s) {
            let path = normalize(&r.path);
            if let Some(field) = scim_only(&path, lookups) {
                scim.insert((field.to_string(), n.loc.file, n.loc.line, n.loc.col));
                continue;
            }
            let var = path.strip_prefix("variables.").map(|p| split_first(p).0);
            if let Some(what) = var.and_then(|v| lookups.get(v).map(|w| (v, w))) {
                reported_lookups.insert((what.0.to_string(), what.1.clone()));
                continue;
            }
            if !resolvable(&r.path, lookups) {
                continue;
            }
            if lookup(&snapshot, &path).is_some() {
                cycles.push((r.path.clone(), n.loc));
            }
        }
    });
    // With a problem reported (a missing reference, a value too long), what
    // is left unresolved waits on it; else it can only be nested too deep.
    let reported = !problems.is_empty();
    for (is_error, msg, file, line, col) in problems {
        let loc = Some(crate::config::yaml::Loc { file, line, col });
        if is_error {
            ctx.error(msg, loc, "");
        } else {
            ctx.warning(msg, loc, "");
        }
    }
    for (field, file, line, col) in scim {
        ctx.warning(
            format!("workspace.current_user.{field} is known only from the workspace (SCIM Me): ${{workspace.current_user.{field}}} is left as is locally"),
            Some(crate::config::yaml::Loc { file, line, col }),
            "",
        );
    }
    for (name, what) in reported_lookups {
        ctx.warning(
            format!("variable {name} is a lookup of {what}: it is resolved only against a Databricks workspace, so ${{var.{name}}} is left as is locally"),
            None,
            &format!("variables.{name}"),
        );
    }
    report_left(ctx, &snapshot, lookups, &cycles, reported);
}

/// A reference still there after the last round waits on a missing one
/// (already reported), is part of a cycle (through strings: an error, as
/// the CLI; through a complex value: the CLI's warning, it nests deeper
/// each round), or nests deeper than the rounds reach.
fn report_left(
    ctx: &mut Ctx,
    snapshot: &Node,
    lookups: &Lookups,
    cycles: &[(String, Loc)],
    reported: bool,
) {
    let search = |through_maps| Search {
        snapshot,
        lookups,
        through_maps,
        acyclic: HashSet::new(),
    };
    if let Some((chain, loc)) = search(false).first(cycles) {
        ctx.error(
            format!("cycle detected in field resolution: {chain}"),
            Some(loc),
            "",
        );
    } else if search(true).first(cycles).is_some() {
        ctx.warning(
            format!("Variables references are too deep, stopping resolution after {ROUNDS} rounds. Unresolved variables may remain."),
            None,
            "",
        );
    } else if let Some((path, loc)) = cycles.first()
        && !reported
    {
        ctx.error(
            format!(
                "${{{path}}} is still unresolved after {ROUNDS} rounds of interpolation: \
                 references nest deeper than that"
            ),
            Some(*loc),
            "",
        );
    }
}

/// A search for a cycle of references in `snapshot`: along strings only
/// (the CLI's resolver, which follows a reference whose value is a string
/// within one round), or also into maps and lists (a complex value, taken as
/// it is and resolved inside in the next round: a cycle there only nests
/// deeper each round).
struct Search<'a> {
    snapshot: &'a Node,
    lookups: &'a Lookups,
    through_maps: bool,
    /// Paths known to lead to no cycle, shared by every search: each
    /// reference is explored once (linear, where a fresh search per
    /// reference is exponential in a chain of doubled references).
    acyclic: HashSet<String>,
}

impl Search<'_> {
    /// Depth-first from `path`; the chain when one leads back to a
    /// reference already on the stack.
    fn cycle_from(&mut self, path: &str, stack: &mut Vec<String>) -> Option<String> {
        let norm = normalize(path);
        if self.acyclic.contains(&norm) {
            return None;
        }
        if let Some(i) = stack.iter().position(|p| normalize(p) == norm) {
            let mut chain: Vec<String> = stack[i..].iter().map(|p| format!("${{{p}}}")).collect();
            chain.push(format!("${{{path}}}"));
            return Some(chain.join(" -> "));
        }
        if stack.len() > 64 {
            return None;
        }
        let node = lookup(self.snapshot, &norm)?;
        if !self.through_maps && !matches!(node.v, Value::Str(_)) {
            return None;
        }
        let mut next = Vec::new();
        walk_ref_node(node, &mut |m| {
            if let Value::Str(s) = &m.v {
                next.extend(
                    find_refs(s)
                        .into_iter()
                        .filter(|r| resolvable(&r.path, self.lookups))
                        .map(|r| r.path),
                );
            }
        });
        stack.push(path.to_string());
        let found = next.iter().find_map(|n| self.cycle_from(n, stack));
        stack.pop();
        if found.is_none() {
            self.acyclic.insert(norm);
        }
        found
    }

    fn first(&mut self, refs: &[(String, Loc)]) -> Option<(String, Loc)> {
        refs.iter()
            .find_map(|(p, loc)| self.cycle_from(p, &mut Vec::new()).map(|c| (c, *loc)))
    }
}

/// The parts references can point at, copied so the tree can change under them.
fn sections(root: &Node) -> Node {
    let mut out = Node::map(root.loc);
    if let (Some(m), Some(o)) = (root.as_map(), out.as_map_mut()) {
        for e in m.iter().filter(|e| PREFIXES.contains(&e.key.as_str())) {
            o.0.push(e.clone());
        }
    }
    out
}

/// Each string under `n`, with its depth below the root.
fn walk(n: &mut Node, depth: usize, f: &mut impl FnMut(&mut Node, usize)) {
    match &mut n.v {
        Value::Seq(v) => v.iter_mut().for_each(|c| walk(c, depth + 1, f)),
        Value::Map(m) => m.0.iter_mut().for_each(|e| walk(&mut e.node, depth + 1, f)),
        Value::Str(_) => f(n, depth),
        _ => {}
    }
}

/// How many values `n` holds and how deep it nests (without recursion:
/// `n` may be thousands of levels deep).
/// Counting stops past `cap`.
fn extent(n: &Node, cap: usize) -> (usize, usize) {
    let (mut count, mut deepest) = (0, 0);
    let mut todo = vec![(n, 1)];
    while let Some((n, depth)) = todo.pop() {
        count += 1;
        if count > cap {
            break;
        }
        deepest = deepest.max(depth);
        match &n.v {
            Value::Seq(v) => todo.extend(v.iter().map(|c| (c, depth + 1))),
            Value::Map(m) => todo.extend(m.iter().map(|e| (&e.node, depth + 1))),
            _ => {}
        }
    }
    (count, deepest)
}

/// What a string is resolved against, and how deep it sits.
struct At<'a> {
    snapshot: &'a Node,
    lookups: &'a Lookups,
    depth: usize,
}

/// Why a complex value may not replace a string `depth` deep, when
/// `copied` values have been copied before.
/// Each value is counted once (past the limit, at once), before it is copied.
fn too_big(v: &Node, depth: usize, copied: &mut usize, path: &str) -> Option<String> {
    let room = MAX_COPIED.saturating_sub(*copied);
    let (count, deepest) = extent(v, room);
    if count > room {
        *copied = MAX_COPIED + 1;
        return Some(format!(
            "interpolation copies more than {MAX_COPIED} values (at ${{{path}}}); it is left unresolved"
        ));
    }
    if depth + deepest > MAX_DEPTH {
        return Some(format!(
            "interpolation nests this value deeper than {MAX_DEPTH} levels (at ${{{path}}}); it is left unresolved"
        ));
    }
    *copied += count;
    None
}

fn walk_ref(n: &Node, f: &mut impl FnMut(&Node)) {
    walk_ref_node(n, f)
}

fn walk_ref_node(n: &Node, f: &mut impl FnMut(&Node)) {
    match &n.v {
        Value::Seq(v) => v.iter().for_each(|c| walk_ref_node(c, f)),
        Value::Map(m) => m.iter().for_each(|e| walk_ref_node(&e.node, f)),
        _ => f(n),
    }
}

/// Problems found while resolving: (is an error, message, file, line, col),
/// sorted and each once.
type Problems = BTreeSet<(bool, String, u32, u32, u32)>;

fn problem(problems: &mut Problems, msg: String, loc: Loc) {
    problems.insert((true, msg, loc.file, loc.line, loc.col));
}

/// Replace the references of one string that can be resolved now.
fn substitute(n: &mut Node, at: &At, copied: &mut usize, problems: &mut Problems) -> bool {
    let Value::Str(s) = &n.v else { return false };
    if !s.contains("${") {
        return false;
    }
    let refs = find_refs(s);
    if refs.is_empty() {
        return false;
    }
    // A string that is exactly one reference takes the value with its type.
    let whole = refs.len() == 1 && refs[0].start == 0 && refs[0].end == s.len();
    let mut values: Vec<Option<Node>> = refs
        .iter()
        .map(|r| value_of(r, n.loc, whole, at, copied, problems))
        .collect();
    if whole {
        return match values.pop().flatten() {
            Some(v) => {
                n.v = v.v;
                true
            }
            None => false,
        };
    }
    match splice(s, &refs, values, n.loc, problems) {
        Some(out) => {
            n.v = Value::Str(out);
            true
        }
        None => false,
    }
}

/// The value reference `r` (in a string at `loc`) stands for now; `None`
/// when it is left as it is this round (a problem is noted when it never
/// resolves).
fn value_of(
    r: &Ref,
    loc: Loc,
    whole: bool,
    at: &At,
    copied: &mut usize,
    problems: &mut Problems,
) -> Option<Node> {
    let (snapshot, lookups) = (at.snapshot, at.lookups);
    let path = normalize(&r.path);
    if !resolvable(&r.path, lookups) {
        return None;
    }
    match lookup(snapshot, &path) {
        // A map or list is taken as it is, references and all: they are
        // resolved where it lands, in the next round (the CLI's resolver
        // follows a reference to a string only). A value that refers to
        // itself so nests deeper each round, as the CLI's does.
        Some(v) if matches!(v.v, Value::Map(_) | Value::Seq(_)) => {
            if !whole {
                // Only its kind matters: it cannot be spliced into text.
                Some(Node::map(v.loc))
            } else if let Some(why) = too_big(v, at.depth, copied, &r.path) {
                problem(problems, why, loc);
                None
            } else {
                Some(v.clone())
            }
        }
        Some(v) if !has_refs(v, lookups) => Some(v.clone()),
        Some(_) => None,
        None => {
            problem(problems, missing_ref(snapshot, &r.path, &path), loc);
            None
        }
    }
}

/// Every missing reference is an error, with the fix when there is a near
/// miss, as the CLI's resolver reports it (libs/dyn/dynvar/resolve.go: a
/// NoSuchKey lookup becomes "reference does not exist"; recorded in
/// acceptance/bundle/variables/did_you_mean/output.txt).
fn missing_ref(snapshot: &Node, raw: &str, path: &str) -> String {
    match suggest(snapshot, raw) {
        _ if let Some(e) = index_error(snapshot, path) => e,
        Some(s) => format!("reference does not exist: ${{{raw}}}. did you mean ${{{s}}}?"),
        None => format!("reference does not exist: ${{{raw}}}"),
    }
}

/// `s` with each reference that has a text value replaced by it; `None`
/// when none has, or when the result would grow past `MAX_LEN` (then the
/// string is left whole, with a problem noted).
fn splice(
    s: &str,
    refs: &[Ref],
    values: Vec<Option<Node>>,
    loc: Loc,
    problems: &mut Problems,
) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut changed = false;
    for (r, v) in refs.iter().zip(values) {
        out.push_str(&s[last..r.start]);
        match v.as_ref().and_then(scalar_text) {
            Some(text) => {
                out.push_str(&text);
                changed = true;
            }
            None => {
                if v.is_some() {
                    let msg = format!("cannot interpolate non-string value: ${{{}}}", r.path);
                    problem(problems, msg, loc);
                }
                out.push_str(&s[r.start..r.end]);
            }
        }
        last = r.end;
        if out.len() > MAX_LEN {
            let msg = format!(
                "interpolation makes this value longer than {} MiB (at ${{{}}}); it is left unresolved",
                MAX_LEN >> 20,
                r.path
            );
            problem(problems, msg, loc);
            return None;
        }
    }
    out.push_str(&s[last..]);
    changed.then_some(out)
}

/// "did you mean": the closest existing sibling of the missing key.
fn suggest(snapshot: &Node, path: &str) -> Option<String> {
    let is_var = path.starts_with("var.");
    let norm = normalize(path);
    let parts: Vec<&str> = norm.split('.').collect();
    // Find the first missing prefix.
    for i in 1..=parts.len() {
        let prefix = parts[..i].join(".");
        if lookup(snapshot, &prefix).is_some() {
            continue;
        }
        let parent = if i == 1 {
            Some(snapshot)
        } else {
            lookup(snapshot, &parts[..i - 1].join("."))
        };
        let missing = parts[i - 1];
        let best = parent?
            .as_map()?
            .iter()
            // Only names a reference can spell.
            .filter(|e| parse_ref(&format!("{}}}", e.key)).is_some())
            .map(|e| (edit_distance(&e.key, missing), e.key.as_str()))
            .filter(|(d, k)| *d <= (k.len().max(missing.len()) / 3).max(2))
            .min()?
            .1
            .to_string();
        let mut fixed: Vec<&str> = parts.clone();
        fixed[i - 1] = &best;
        let fixed = fixed.join(".");
        return Some(if is_var {
            let rest = fixed.strip_prefix("variables.").unwrap_or(&fixed);
            let (name, tail) = split_first(rest);
            let tail = tail.strip_prefix(".value").unwrap_or(tail);
            format!("var.{name}{tail}")
        } else {
            fixed
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `f` on a thread with the stack the binary's main thread has (a test's
    /// own has 2 MB): deep values are walked by recursion.
    fn on_main_sized_stack(f: impl FnOnce() + Send) {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(8 << 20)
                .spawn_scoped(s, f)
                .unwrap()
                .join()
                .unwrap()
        })
    }

    fn hellos(mut n: &serde_json::Value) -> (usize, &serde_json::Value) {
        let mut depth = 0;
        while let Some(next) = n.get("hello") {
            (n, depth) = (next, depth + 1);
        }
        (depth, n)
    }

    #[test]
    fn a_cycle_through_a_complex_value_nests_it_as_deep_as_the_cli_does() {
        // The CLI's acceptance cases variables/complex-cycle(-self): each
        // round takes the other map as it is, so it nests twice as deep; the
        // CLI warns after 11 rounds and prints 2,048 levels of `hello`
        // (both tools' documents compared byte for byte on 30 November).
        on_main_sized_stack(|| {
            let (config, diags) = crate::config::load_files(&[(
                "databricks.yml",
                "bundle:\n  name: c\nvariables:\n  a:\n    default:\n      hello: ${var.b}\n  b:\n    default:\n      hello: ${var.a}\n",
            )]);
            assert_eq!(
                diags,
                [
                    "Warning: Variables references are too deep, stopping resolution after 11 rounds. Unresolved variables may remain."
                ]
            );
            for (var, other) in [("a", "${var.a}"), ("b", "${var.b}")] {
                for field in ["default", "value"] {
                    let (depth, leaf) = hellos(&config["variables"][var][field]);
                    assert_eq!((depth, leaf.as_str()), (2048, Some(other)), "{var}.{field}");
                }
            }
        });
    }

    #[test]
    fn a_cycle_that_would_nest_past_the_limit_is_an_error_not_a_crash() {
        on_main_sized_stack(|| {
            let (_, diags) = crate::config::load_files(&[(
                "databricks.yml",
                "bundle:\n  name: c\nvariables:\n  a:\n    default:\n      hello:\n        hello: ${var.a}\n",
            )]);
            assert!(
                diags.iter().any(|d| d.starts_with(
                    "Error: interpolation nests this value deeper than 2560 levels (at ${var.a})"
                )),
                "{diags:?}"
            );
            // Two references to itself square the size each round.
            let (_, diags) = crate::config::load_files(&[(
                "databricks.yml",
                "bundle:\n  name: c\nvariables:\n  a:\n    default:\n      x: ${var.a}\n      y: ${var.a}\n",
            )]);
            assert!(
                diags
                    .iter()
                    .any(|d| d.starts_with("Error: interpolation copies more than 131072 values")),
                "{diags:?}"
            );
        });
    }

    #[test]
    fn a_cycle_through_strings_is_a_cycle_error() {
        // Through strings it is still a cycle, and an error.
        let (_, diags) = crate::config::load_files(&[(
            "databricks.yml",
            "bundle:\n  name: c\nvariables:\n  a:\n    default: ${var.b}\n  b:\n    default: x${var.a}\n",
        )]);
        assert!(
            diags.len() == 1 && diags[0].starts_with("Error: cycle detected in field resolution"),
            "{diags:?}"
        );
    }

    #[test]
    fn reference_grammar() {
        let r =
            find_refs("a ${var.x} b ${resources.jobs.j.id} ${x.y[0].z} ${bad-} ${1x} $${var.y}");
        let paths: Vec<&str> = r.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            vec!["var.x", "resources.jobs.j.id", "x.y[0].z", "var.y"]
        );
    }
}
