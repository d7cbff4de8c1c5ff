//! Every page a new user sees first lays out at a phone's, a small laptop's and a desktop's
//! width: no horizontal scrolling of the page, nothing past the viewport's right edge (the Log
//! out button) or past its card's (a table's actions). Tables may scroll inside their card.
//! A PNG per page and width goes to `target/screenshots/` for a person to look at.

use anyhow::{bail, ensure, Result};
use serde_json::Value;

use super::kit::{target_path, Browser, UI_TIMEOUT};
use super::steps::{create_service, create_version, log_in, open_dialog, wait_for_heading};
use crate::helpers::TestApp;

const WIDTHS: [u32; 3] = [360, 800, 1400];
const HEIGHT: u32 = 900;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_lay_out_at_360_800_and_1400_px() {
    let app = TestApp::spawn().await;
    let browser = Browser::launch().await;
    let outcome = layouts(&app, &browser).await;
    browser.finish(outcome).await;
}

async fn layouts(app: &TestApp, b: &Browser) -> Result<()> {
    log_in(app, b).await?;
    create_service(b, "Example Service with a rather long display name").await?;
    b.goto(&format!("{}/services", app.console)).await?;
    create_service(b, "Example Service").await?;
    create_version(b, "v.1").await?;
    open_dialog(b).await?;
    check_widths(b, "dialog").await?;

    b.find("#use-echo").await?.click().await?;
    b.find("#impl-next").await?.click().await?;
    b.wait_for("#impl-step2", UI_TIMEOUT).await?;
    b.find("#route_name").await?.send_keys("mockbin").await?;
    let paths = b.find_all("#route-paths input[name=route_paths]").await?;
    paths[0]
        .send_keys("/mock/with/a/long/path/for/the/table")
        .await?;
    b.find("#impl-create").await?.click().await?;
    b.wait_for("#routes tbody tr td", UI_TIMEOUT).await?;
    app.wait_for_proxy("/mock/with/a/long/path/for/the/table", 200)
        .await;
    check_widths(b, "version").await?;
    // The actions menu, open, stays on screen too.
    b.find("details.menu > summary").await?.click().await?;
    b.wait_for("details.menu[open] .menu-body", UI_TIMEOUT)
        .await?;
    check_widths(b, "version-menu").await?;

    b.goto(&format!("{}/services", app.console)).await?;
    wait_for_heading(b, "Service Hub").await?;
    check_widths(b, "catalog").await?;

    b.goto(&format!("{}/runtime-groups/default/instances", app.console))
        .await?;
    wait_for_heading(b, "Runtime Instances").await?;
    check_widths(b, "runtime-instances").await?;

    b.goto(&format!("{}/analytics", app.console)).await?;
    wait_for_heading(b, "Analytics").await?;
    // The filters are one line of ordinary controls, not 150-px boxes.
    let tallest = b
        .script(
            "return Math.max(...[...document.querySelectorAll('#analytics-filters select')]\
             .map(s => s.getBoundingClientRect().height))",
        )
        .await?;
    ensure!(
        tallest.as_f64().is_some_and(|h| h > 0.0 && h < 60.0),
        "the analytics filter selects are {tallest} px tall"
    );
    check_widths(b, "analytics").await?;
    Ok(())
}

/// Resizes to each width, saves a screenshot and fails on any overflow found.
async fn check_widths(b: &Browser, page: &str) -> Result<()> {
    for width in WIDTHS {
        b.set_viewport_width(width, HEIGHT).await?;
        let inner = b.script("return window.innerWidth").await?;
        ensure!(
            inner.as_u64() == Some(u64::from(width)),
            "{page}: the viewport is {inner} px wide, wanted {width}"
        );
        b.screenshot(&target_path(&format!("screenshots/{page}-{width}.png")))
            .await?;
        let found = b.script(OVERFLOW_JS).await?;
        let problems: Vec<&str> = found
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !problems.is_empty() {
            bail!(
                "{page} at {width} px overflows:\n  {}",
                problems.join("\n  ")
            );
        }
    }
    Ok(())
}

/// Lists what sticks out: the document wider than the viewport, and every visible element
/// whose box passes the right edge of its card (or dialog) or either edge of the viewport, unless an
/// ancestor in between clips or scrolls it (a table scrolling inside its card).
const OVERFLOW_JS: &str = r#"
const vw = window.innerWidth, bad = [];
const de = document.documentElement;
if (de.scrollWidth > vw) bad.push(`document is ${de.scrollWidth} px wide`);
const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
  + (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\s+/).join('.') : '')
  + (el.textContent ? ` "${el.textContent.trim().slice(0, 30)}"` : '');
for (const el of document.querySelectorAll('body *')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) continue;
  const cs = getComputedStyle(el);
  if (cs.visibility === 'hidden' || el.closest('.visually-hidden')) continue;
  let problem = null;
  for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (s.overflowX !== 'visible') break;
    if (a.matches('.card, .dialog') && r.right > a.getBoundingClientRect().right + 1) {
      problem = `${name(el)} ends at ${Math.round(r.right)}, past its ${name(a).slice(0, 40)} (${Math.round(a.getBoundingClientRect().right)})`;
      break;
    }
    if (a.parentElement === document.body && (r.right > vw + 1 || r.left < -1)) {
      problem = `${name(el)} spans ${Math.round(r.left)}..${Math.round(r.right)}, outside the viewport (0..${vw})`;
    }
  }
  if (problem) bad.push(problem);
}
return bad.slice(0, 20);
"#;
