//! Module boundaries that the compiler cannot enforce in one crate: the proxy (router included)
//! must not reach into storage, the console, the Admin API, or the web framework.

use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).expect("read source"),
            ));
        }
    }
}

#[test]
fn proxy_imports_nothing_from_store_console_admin_or_actix() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![(
        root.join("proxy.rs").display().to_string(),
        std::fs::read_to_string(root.join("proxy.rs")).expect("proxy.rs"),
    )];
    sources(&root.join("proxy"), &mut files);
    assert!(
        files.len() > 5,
        "expected the proxy's modules, found {}",
        files.len()
    );
    let forbidden = [
        "crate::store",
        "crate::console",
        "crate::admin_api",
        "crate::manage",
        "actix",
        "sqlx",
        "rusqlite",
    ];
    let mut violations = Vec::new();
    for (path, text) in &files {
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for f in forbidden {
                if line.contains(f) {
                    violations.push(format!("{path}: {}", line.trim()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "proxy boundary broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn domain_knows_nothing_of_http_or_storage() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root.join("domain"), &mut files);
    for (path, text) in &files {
        for f in [
            "actix",
            "hyper",
            "rusqlite",
            "crate::store",
            "crate::console",
            "crate::admin_api",
        ] {
            assert!(!text.contains(f), "{path} uses {f}");
        }
    }
}
