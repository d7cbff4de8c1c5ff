//! Module boundaries that the compiler cannot enforce in one crate, checked on the import graph
//! of `src/` followed transitively: the proxy reaches no storage, web framework, console, Admin
//! API or service layer, not even through another module; no two top-level modules (and no two
//! files of one folder) import each other in a circle; the domain knows nothing of HTTP or
//! storage; the console and the Admin API write only through the service layer; no source file
//! passes 600 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, by module path (`proxy::server`, `store`, `lib` for the root).
fn modules() -> BTreeMap<String, (PathBuf, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, (PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).expect("under src");
                let name = rel
                    .with_extension("")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("::");
                let text = std::fs::read_to_string(&path).expect("read source");
                out.insert(name, (path, text));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

/// The code of a file without comments and string contents, so neither can fake an import.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        let mut in_str = false;
        let mut prev = ' ';
        for c in line.chars() {
            if c == '"' && prev != '\\' && prev != '\'' {
                in_str = !in_str;
                out.push('"');
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// The module a path written in `from` names: the longest prefix that is a module file.
fn resolve(
    from: &str,
    path: &[&str],
    mods: &BTreeMap<String, (PathBuf, String)>,
) -> Option<String> {
    let here: Vec<&str> = if from == "lib" || from == "main" {
        vec![]
    } else {
        from.split("::").collect()
    };
    let mut segs: Vec<String> = Vec::new();
    let mut rest = path;
    match rest.first() {
        Some(&"crate") => rest = &rest[1..],
        Some(&"super") => {
            let mut base = here.clone();
            while rest.first() == Some(&"super") {
                base.pop();
                rest = &rest[1..];
            }
            segs.extend(base.iter().map(|s| s.to_string()));
        }
        Some(&"self") => {
            segs.extend(here.iter().map(|s| s.to_string()));
            rest = &rest[1..];
        }
        Some(first) => {
            // A child module of the current one, named without `self::`.
            let child = here
                .iter()
                .map(|s| s.to_string())
                .chain([first.to_string()])
                .collect::<Vec<_>>()
                .join("::");
            if !mods.contains_key(&child) {
                return None;
            }
            segs.extend(here.iter().map(|s| s.to_string()));
        }
        None => return None,
    }
    let mut best = None;
    for seg in rest {
        segs.push(seg.to_string());
        let name = segs.join("::");
        if mods.contains_key(&name) {
            best = Some(name);
        }
    }
    best
}

/// Edges between module files: `use` trees (braces included) and inline `crate::`/`super::`
/// paths.
fn graph(mods: &BTreeMap<String, (PathBuf, String)>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, (_, text)) in mods {
        let code = code_of(text);
        let mut paths: Vec<Vec<String>> = Vec::new();
        // `use a::b::{c, d::e};` statements, flattened.
        for stmt in code.split(';') {
            let Some(i) = stmt.find("use ") else { continue };
            if i > 0
                && !stmt[..i]
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_whitespace() || c == '{' || c == '}')
            {
                continue;
            }
            let tree = stmt[i + 4..]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace(" ::", "::")
                .replace(":: ", "::")
                .replace("{ ", "{")
                .replace(" }", "}")
                .replace(", ", ",")
                .replace(" ,", ",");
            flatten(&tree, &mut Vec::new(), &mut paths);
        }
        // Inline paths such as `crate::store::Store::open(…)`.
        for start in ["crate::", "super::"] {
            let mut from = 0;
            while let Some(i) = code[from..].find(start) {
                let at = from + i;
                let prev = code[..at].chars().last().unwrap_or(' ');
                let tail: String = code[at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                if !(prev.is_alphanumeric() || prev == '_' || prev == ':') {
                    paths.push(tail.split("::").map(str::to_string).collect());
                }
                from = at + start.len();
            }
        }
        for p in paths {
            let refs: Vec<&str> = p
                .iter()
                .map(String::as_str)
                .filter(|s| !s.is_empty())
                .collect();
            if let Some(target) = resolve(name, &refs, mods) {
                if &target != name {
                    edges.entry(name.clone()).or_default().insert(target);
                }
            }
        }
    }
    edges
}

fn flatten(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut cur = String::new();
        let mut parts = Vec::new();
        for c in inner.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(c);
        }
        parts.push(cur);
        let n = prefix.len();
        prefix.extend(head);
        for part in parts.iter().filter(|p| !p.is_empty()) {
            flatten(part, prefix, out);
        }
        prefix.truncate(n);
    } else {
        let mut p = prefix.clone();
        let clean = tree.split(" as ").next().unwrap_or(tree).trim();
        p.extend(
            clean
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
        out.push(p);
    }
}

fn reachable(from: &[String], edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let mut seen: BTreeSet<String> = from.iter().cloned().collect();
    let mut todo: Vec<String> = from.to_vec();
    while let Some(m) = todo.pop() {
        for next in edges.get(&m).into_iter().flatten() {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen
}

fn top(m: &str) -> &str {
    m.split("::").next().unwrap_or(m)
}

/// Modules of `room` (`proxy` is `proxy.rs` and everything under `proxy/`).
fn room(mods: &BTreeMap<String, (PathBuf, String)>, name: &str) -> Vec<String> {
    mods.keys().filter(|m| top(m) == name).cloned().collect()
}

#[test]
fn the_graph_sees_known_imports() {
    let mods = modules();
    let edges = graph(&mods);
    let has = |a: &str, b: &str| edges.get(a).is_some_and(|e| e.contains(b));
    assert!(
        has("proxy::server", "proxy::state"),
        "a `use super::` import"
    );
    assert!(has("app::control_plane", "store"), "a `use crate::` import");
    assert!(
        has("service::kong", "store::entities"),
        "a renamed (`as db`) import"
    );
    assert!(mods.len() > 60, "found {} modules", mods.len());
}

#[test]
fn the_proxy_and_plugins_reach_no_storage_web_or_service_code_even_transitively() {
    let mods = modules();
    let edges = graph(&mods);
    let mut start = room(&mods, "proxy");
    assert!(start.len() > 5, "expected the proxy's modules");
    // The plugins run inside the proxy: the same rule holds for them.
    start.extend(room(&mods, "plugins"));
    let reached = reachable(&start, &edges);
    let forbidden_rooms = [
        "store",
        "console",
        "admin_api",
        "service",
        "web_error",
        "app",
    ];
    let bad: Vec<&String> = reached
        .iter()
        .filter(|m| forbidden_rooms.contains(&top(m)))
        .collect();
    assert!(bad.is_empty(), "the proxy reaches {bad:?}");
    for m in &reached {
        let code = code_of(&mods[m].1);
        for lib in ["sqlx", "actix", "askama"] {
            assert!(
                !code.contains(lib),
                "{m} (reached from the proxy) uses {lib}"
            );
        }
    }
}

#[test]
fn the_domain_knows_nothing_of_http_storage_or_the_outside() {
    let mods = modules();
    let edges = graph(&mods);
    let start = room(&mods, "domain");
    let reached = reachable(&start, &edges);
    let outside: Vec<&String> = reached.iter().filter(|m| top(m) != "domain").collect();
    assert!(outside.is_empty(), "the domain reaches {outside:?}");
    for m in &start {
        let code = code_of(&mods[m].1);
        for lib in ["actix", "hyper", "sqlx", "tokio"] {
            assert!(!code.contains(lib), "{m} uses {lib}");
        }
    }
}

/// Cycles in `edges` restricted to `nodes`, as the strongly connected components with more
/// than one member (Tarjan's algorithm).
fn cycles(
    nodes: &BTreeSet<String>,
    edges: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<Vec<String>> {
    struct T<'a> {
        nodes: &'a BTreeSet<String>,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on: BTreeSet<String>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit(t: &mut T<'_>, v: &str) {
        t.index.insert(v.to_string(), t.next);
        t.low.insert(v.to_string(), t.next);
        t.next += 1;
        t.stack.push(v.to_string());
        t.on.insert(v.to_string());
        let succ: Vec<String> = t
            .edges
            .get(v)
            .into_iter()
            .flatten()
            .filter(|w| t.nodes.contains(*w))
            .cloned()
            .collect();
        for w in succ {
            if !t.index.contains_key(&w) {
                visit(t, &w);
                let lw = t.low[&w];
                let lv = t.low[v];
                t.low.insert(v.to_string(), lv.min(lw));
            } else if t.on.contains(&w) {
                let iw = t.index[&w];
                let lv = t.low[v];
                t.low.insert(v.to_string(), lv.min(iw));
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(&w);
                let done = w == v;
                comp.push(w);
                if done {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        nodes,
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in nodes {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_circles_between_top_level_modules_or_sibling_files() {
    let mods = modules();
    let edges = graph(&mods);
    // Top level: collapse every file onto its room.
    let mut rooms: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, targets) in &edges {
        for b in targets {
            if top(a) != top(b) {
                rooms
                    .entry(top(a).to_string())
                    .or_default()
                    .insert(top(b).to_string());
            }
        }
    }
    let names: BTreeSet<String> = mods.keys().map(|m| top(m).to_string()).collect();
    let found = cycles(&names, &rooms);
    assert!(found.is_empty(), "top-level circles: {found:?}");
    // Files: a parent and its children may refer to each other (re-exports, `super::`), but
    // no circle may pass through files that are not each other's ancestors.
    let related =
        |a: &str, b: &str| a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"));
    let mut plain: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, targets) in &edges {
        for b in targets {
            if !related(a, b) {
                plain.entry(a.clone()).or_default().insert(b.clone());
            }
        }
    }
    let files: BTreeSet<String> = mods.keys().cloned().collect();
    let found = cycles(&files, &plain);
    assert!(found.is_empty(), "circles between files: {found:?}");
}

#[test]
fn the_console_and_admin_api_write_only_through_the_service_layer() {
    let mods = modules();
    let write = regex::Regex::new(
        r"\b(s|store|state\.store)\s*\.\s*(insert|update|delete|save|create|forget|report|set|note|mark|ingest|prune|use_admin_token)\w*\s*(::<[^>]*>)?\(",
    )
    .expect("regex");
    let mut found = Vec::new();
    for (name, (_, text)) in &mods {
        if !matches!(top(name), "console" | "admin_api") {
            continue;
        }
        let code = code_of(text);
        for m in write.find_iter(&code) {
            found.push(format!("{name}: {}", m.as_str()));
        }
        assert!(
            !code.contains("store::entities") && !code.contains(".begin()"),
            "{name} opens its own transactions or uses the store's write functions"
        );
    }
    assert!(
        found.is_empty(),
        "store writes outside the service layer: {found:?}"
    );
}

#[test]
fn no_source_file_passes_600_lines() {
    let long: Vec<String> = modules()
        .values()
        .filter(|(_, text)| text.lines().count() > 600)
        .map(|(p, text)| format!("{} ({} lines)", p.display(), text.lines().count()))
        .collect();
    assert!(long.is_empty(), "split these: {long:?}");
}
