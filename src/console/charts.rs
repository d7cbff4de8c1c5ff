//! Server-rendered SVG charts (no JavaScript library): stacked bars of requests per status class
//! over time. Colours come from CSS classes, so light and dark themes both read; each bar has a
//! `<title>` and every chart sits beside a table view of the same numbers.

use std::fmt::Write;

use crate::store::SeriesPoint;

/// The console's time frames: key, label, length in seconds.
pub const FRAMES: &[(&str, &str, i64)] = &[
    ("5m", "Last 5 minutes", 300),
    ("15m", "Last 15 minutes", 900),
    ("1h", "Last hour", 3600),
    ("6h", "Last 6 hours", 21_600),
    ("12h", "Last 12 hours", 43_200),
    ("24h", "Last 24 hours", 86_400),
    ("7d", "Last 7 days", 7 * 86_400),
    ("30d", "Last 30 days", 30 * 86_400),
];

pub fn frame(key: &str) -> (&'static str, &'static str, i64) {
    *FRAMES.iter().find(|f| f.0 == key).unwrap_or(&FRAMES[0])
}

/// Aggregation step for a frame: a few dozen bars at most.
pub fn step_for(frame_secs: i64) -> i64 {
    const STEPS: &[(i64, i64)] = &[
        (900, 60),
        (3600, 300),
        (21_600, 900),
        (43_200, 1800),
        (86_400, 3600),
        (604_800, 6 * 3600),
    ];
    STEPS
        .iter()
        .find(|(up_to, _)| frame_secs <= *up_to)
        .map(|s| s.1)
        .unwrap_or(86_400)
}

pub fn step_label(step_secs: i64) -> String {
    match step_secs {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s => format!("{} min", s / 60),
    }
}

/// `HH:MM` (or `MM-DD HH:MM` for steps of hours, `YYYY-MM-DD` for days), UTC.
pub fn fmt_step(ms: i64, step_secs: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) else {
        return String::new();
    };
    let f = if step_secs >= 86_400 {
        time::macros::format_description!("[year]-[month]-[day]")
    } else if step_secs >= 6 * 3600 {
        time::macros::format_description!("[month]-[day] [hour]:[minute]")
    } else {
        time::macros::format_description!("[hour]:[minute]")
    };
    t.format(f).unwrap_or_default()
}

fn js_format(step_secs: i64) -> &'static str {
    if step_secs >= 86_400 {
        "date"
    } else if step_secs >= 6 * 3600 {
        "datetime"
    } else {
        "time"
    }
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Stacked bars of requests per status class, one bar per step.
pub fn stacked_bars(points: &[SeriesPoint], step_secs: i64, title: &str) -> String {
    let (w, h, left, bottom, top) = (720.0_f64, 200.0_f64, 44.0_f64, 22.0_f64, 8.0_f64);
    let max = points
        .iter()
        .map(SeriesPoint::total)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let n = points.len().max(1) as f64;
    let slot = (w - left) / n;
    let bar = (slot * 0.8).max(1.0);
    let plot_h = h - bottom - top;
    let total: i64 = points.iter().map(SeriesPoint::total).sum();
    let mut svg = String::with_capacity(points.len() * 300 + 1024);
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{t}: {total} requests, stacked by status class, {step} per bar" preserveAspectRatio="none"><title>{t}</title>"#,
        t = escape(title),
        step = step_label(step_secs)
    );
    // Axis and gridlines at 0, half and max.
    for frac in [0.0, 0.5, 1.0] {
        let y = top + plot_h * (1.0 - frac);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{left}" x2="{w}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{x:.1}" y="{ty:.1}" text-anchor="end">{v}</text>"#,
            x = left - 4.0,
            ty = y + 4.0,
            v = (max * frac).round() as i64
        );
    }
    for (i, p) in points.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = top + plot_h;
        let label = fmt_step(p.start_ms, step_secs);
        for (c, count) in p.classes.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            let bh = plot_h * (*count as f64) / max;
            y -= bh;
            let _ = write!(
                svg,
                r#"<rect class="bar c{cls}" x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}"><title>{label} UTC: {count} {cls}</title></rect>"#,
                cls = CLASSES[c]
            );
        }
    }
    // About six time labels along the bottom.
    let every = ((points.len() as f64) / 6.0).ceil().max(1.0) as usize;
    for (i, p) in points.iter().enumerate().step_by(every) {
        let x = left + slot * i as f64 + slot / 2.0;
        let _ = write!(
            svg,
            r#"<text class="axis" x="{x:.1}" y="{y:.1}" text-anchor="middle" data-ts="{ts}" data-fmt="{f}">{label}</text>"#,
            y = h - 6.0,
            ts = p.start_ms,
            f = js_format(step_secs),
            label = fmt_step(p.start_ms, step_secs)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// "+12 %", "−3 %", "new" or "–" comparing a value with the previous period's.
pub fn trend(current: f64, previous: f64) -> String {
    if previous == 0.0 {
        return if current == 0.0 {
            "–".into()
        } else {
            "new".into()
        };
    }
    let pct = (current - previous) * 100.0 / previous;
    if pct.abs() < 0.5 {
        "±0 %".into()
    } else if pct > 0.0 {
        format!("+{pct:.0} %")
    } else {
        format!("−{:.0} %", pct.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_per_class_and_carry_titles() {
        let points = vec![
            SeriesPoint {
                start_ms: 0,
                classes: [0, 3, 0, 1, 0],
            },
            SeriesPoint {
                start_ms: 60_000,
                classes: [0, 0, 0, 0, 2],
            },
        ];
        let svg = stacked_bars(&points, 60, "Traffic <x>");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Traffic &lt;x&gt;"));
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("00:00 UTC: 3 2xx") && svg.contains("00:01 UTC: 2 5xx"));
        assert!(svg.contains("6 requests"));
    }

    #[test]
    fn steps_and_trends() {
        assert_eq!(step_for(300), 60);
        assert_eq!(step_for(86_400), 3600);
        assert_eq!(step_for(30 * 86_400), 86_400);
        assert_eq!(trend(120.0, 100.0), "+20 %");
        assert_eq!(trend(50.0, 100.0), "−50 %");
        assert_eq!(trend(5.0, 0.0), "new");
        assert_eq!(trend(0.0, 0.0), "–");
    }
}
