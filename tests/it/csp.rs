//! The console's Content-Security-Policy allows no inline script or style, and no template
//! needs one: behaviour lives in `static/app.js`, attached through data attributes. (The
//! browser tests run the walkthrough under this policy.)

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_response_carries_a_strict_policy() {
    let app = TestApp::spawn().await;
    app.login().await;
    for path in ["/login", "/services", "/runtime-groups", "/account"] {
        let r = app
            .client
            .get(format!("{}{path}", app.console))
            .send()
            .await
            .expect("page");
        let csp = r
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("style-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        let html = r.text().await.unwrap_or_default();
        assert!(
            html.contains("/static/app.js?v="),
            "{path} loads the console's script"
        );
    }
    let js = app
        .client
        .get(format!("{}/static/app.js", app.console))
        .send()
        .await
        .expect("script");
    assert_eq!(js.status().as_u16(), 200);
    assert!(js
        .text()
        .await
        .unwrap_or_default()
        .contains("data-close-modal"));
}

#[test]
fn no_template_holds_inline_script_handlers_or_styles() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let handler = regex::Regex::new(r#"\son[a-z]+\s*="#).expect("regex");
    let inline_script = regex::Regex::new(r"<script(\s[^>]*)?>").expect("regex");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("templates") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The echo upstream's home page is not the console and carries no policy.
        if name == "echo_home.html" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for m in inline_script.find_iter(&text) {
            if !m.as_str().contains("src=") {
                found.push(format!("{name}: {}", m.as_str()));
            }
        }
        for bad in ["hx-on", "javascript:", "style=", "<style"] {
            if text.contains(bad) {
                found.push(format!("{name}: {bad}"));
            }
        }
        if let Some(m) = handler.find(&text) {
            found.push(format!("{name}: {}", m.as_str()));
        }
    }
    assert!(
        found.is_empty(),
        "inline code the policy would block: {found:?}"
    );
}
