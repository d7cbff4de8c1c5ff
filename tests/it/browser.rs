//! The console in a real headless Chromium, driven over W3C WebDriver by the `thirtyfour`
//! client and a `chromedriver` child process: the onboarding walkthrough (with JavaScript on
//! and off), the other pages a new user clicks through, and the layout at three widths.
//!
//! `chromedriver` (from `$CHROMEDRIVER`, else `PATH`) and Chromium (`$CHROME_BIN`, else
//! `/usr/bin/chromium`) must be installed (`scripts/install-test-deps.sh`): the tests fail, not
//! skip, without them. On a failure a screenshot is written to `target/browser-failure.png`;
//! the layout test writes one per page and width under `target/screenshots/`.
//!
//! Why thirtyfour and not fantoccini: with default features off, thirtyfour adds ten crates to
//! this project's tree counting itself (its reqwest 0.13 transport and small macro helpers),
//! fantoccini nineteen (the `webdriver` crate with ICU segmentation and a second thiserror).

mod draft;
mod import;
mod key_auth;
mod kit;
mod layout;
mod no_js;
mod runtime;
mod steps;
mod walkthrough;
