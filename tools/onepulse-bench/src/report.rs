//! The benchmark report: a table on stdout, JSON under `target/bench/`, a markdown page and a
//! history file in `docs/` (committed, so a regression shows in review).

use anyhow::{Context, Result};
use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
    /// The target from `targets.md` (an upper bound), if there is one.
    pub target: Option<f64>,
    /// What the same measurement takes with nothing of ours in the way (e.g. the raw frame's
    /// arrival), measured in the same run, if there is one.
    pub floor: Option<f64>,
    /// Why the figure is what it is, from what the same run measured beside it (a breakdown,
    /// a cause): printed under the table when the target is missed.
    pub why: Option<String>,
}

impl Figure {
    /// A figure, with its target if it has one.
    pub fn new(
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        target: Option<f64>,
    ) -> Self {
        Self {
            name: name.into(),
            value,
            unit,
            target,
            floor: None,
            why: None,
        }
    }

    /// The figure with the floor measured beside it.
    pub fn with_floor(mut self, floor: Option<f64>) -> Self {
        self.floor = floor;
        self
    }

    /// The figure with what explains it (see [`Figure::why`]).
    pub fn with_why(mut self, why: impl Into<String>) -> Self {
        self.why = Some(why.into());
        self
    }

    /// How the figure stands against its target.
    fn standing(&self) -> Standing {
        match self.target {
            None => Standing::NoTarget,
            Some(_) if !self.value.is_finite() => Standing::NotMeasured,
            Some(target) if self.value <= target => Standing::Met,
            Some(target) => Standing::Missed {
                over: self.value - target,
            },
        }
    }

    /// How far over its target the figure is, if it misses it.
    fn over_by(&self) -> Option<f64> {
        match self.standing() {
            Standing::Missed { over } => Some(over),
            _ => None,
        }
    }

    /// The verdict without the amount, for the JSON record (`over_by` carries it): `met`,
    /// `MISSED`, `NOT MEASURED`, or empty without a target.
    fn verdict_word(&self) -> &'static str {
        match self.standing() {
            Standing::NoTarget => "",
            Standing::Met => "met",
            Standing::NotMeasured => "NOT MEASURED",
            Standing::Missed { .. } => "MISSED",
        }
    }

    /// The value as the table prints it: as precisely as its target and miss, if it has one.
    fn value_text(&self) -> String {
        match (self.target, self.miss_decimals()) {
            (_, Some(decimals)) => format!("{:.*}", decimals, self.value),
            (Some(_), None) => fine(self.value),
            (None, None) => number(self.value),
        }
    }

    /// For a miss: the decimals its amount is written with, so that the value and the target,
    /// written with as many, visibly differ by it (216.520 against 216.470, not 216.5 and 216.5).
    fn miss_decimals(&self) -> Option<usize> {
        let over = self.over_by()?;
        Some(fine(over).split('.').nth(1).map_or(0, str::len))
    }

    /// A target (or a floor) as precisely as this figure's value is written.
    fn limit_text(&self, limit: f64) -> String {
        match self.miss_decimals() {
            Some(decimals) => format!("{limit:.decimals$}"),
            None => fine(limit),
        }
    }

    /// The verdict for the table: a miss says by how much.
    fn verdict(&self) -> String {
        match (self.standing(), self.target) {
            (Standing::NoTarget, _) => String::new(),
            (Standing::Met, _) => "met".into(),
            (Standing::NotMeasured, _) => "NOT MEASURED".into(),
            (Standing::Missed { over }, target) => {
                let text = format!(
                    "MISSED by {} {}{}",
                    fine(over),
                    self.unit,
                    share(over, target)
                );
                text.trim_end().to_owned()
            }
        }
    }

    /// A line under the table for a missed (or unmeasured) target: by how much and why.
    fn missed_line(&self) -> Option<String> {
        let target = self.target?;
        let why = self.why.as_deref().unwrap_or(NO_CAUSE);
        let (name, unit) = (&self.name, self.unit);
        match self.standing() {
            Standing::NoTarget | Standing::Met => None,
            Standing::NotMeasured => Some(format!(
                "- **{name}**: not measured (the run gave {}) against ≤ {} {unit}. Why: {why}",
                self.value,
                fine(target),
            )),
            Standing::Missed { over } => Some(format!(
                "- **{name}**: {} {unit} against ≤ {} {unit}, over by {} {unit}{}. Why: {why}",
                self.value_text(),
                self.limit_text(target),
                fine(over),
                share(over, Some(target)),
            )),
        }
    }

    fn target_text(&self) -> String {
        match self.target {
            None => "—".into(),
            Some(t) => format!("≤ {} {}", self.limit_text(t), self.unit),
        }
    }

    fn floor_text(&self) -> String {
        match self.floor {
            None => "—".into(),
            Some(f) => format!("{} {}", self.limit_text(f), self.unit),
        }
    }
}

/// What a missed figure says when its benchmark measured nothing that explains it.
const NO_CAUSE: &str = "no cause measured by this benchmark.";

/// How a figure stands against its target.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Standing {
    /// It has no target.
    NoTarget,
    /// At or under its target.
    Met,
    /// Over its target by `over` (in the figure's unit).
    Missed { over: f64 },
    /// It has a target, but the run gave no number (NaN or infinite).
    NotMeasured,
}

/// `over` as a share of a positive `target`, e.g. ` (+88 %)`; nothing for a target of 0 or less.
fn share(over: f64, target: Option<f64>) -> String {
    match target {
        Some(target) if target > 0.0 => {
            let percent = over / target * 100.0;
            if percent < 1.0 {
                " (+<1 %)".into()
            } else {
                format!(" (+{percent:.0} %)")
            }
        }
        _ => String::new(),
    }
}

/// A number as [`number`] writes it, with one more decimal from 100 up: targets and the
/// amounts a figure misses them by, which must add up on the page (216.5, not 216).
fn fine(v: f64) -> String {
    if v.abs() >= 100.0 && v.fract() != 0.0 {
        format!("{v:.1}")
    } else {
        number(v)
    }
}

fn number(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Prints the table and writes the files.
pub fn write(
    figures: &[Figure],
    suite: &str,
    target_dir: &Path,
    docs_dir: &Path,
    when: &str,
) -> Result<()> {
    let mut table = String::new();
    let _ = writeln!(table, "| figure | value | target | floor | |");
    let _ = writeln!(table, "|---|---|---|---|---|");
    for f in figures {
        let _ = writeln!(
            table,
            "| {} | {} {} | {} | {} | {} |",
            f.name,
            f.value_text(),
            f.unit,
            f.target_text(),
            f.floor_text(),
            f.verdict()
        );
    }
    let missed: Vec<String> = figures.iter().filter_map(Figure::missed_line).collect();
    if !missed.is_empty() {
        let _ = writeln!(table, "\n## Missed targets\n");
        for line in &missed {
            let _ = writeln!(table, "{line}");
        }
    }
    println!("\n{table}");

    let record = json!({
        "suite": suite,
        "when": when,
        "figures": figures.iter().map(|f| json!({
            "name": f.name, "value": f.value, "unit": f.unit,
            "target": f.target, "floor": f.floor, "verdict": f.verdict_word(),
            "over_by": f.over_by(), "why": f.why,
        })).collect::<Vec<_>>(),
    });
    std::fs::create_dir_all(target_dir)
        .with_context(|| format!("creating {}", target_dir.display()))?;
    let json_path = target_dir.join(format!("{suite}.json"));
    std::fs::write(&json_path, serde_json::to_string_pretty(&record)?)
        .with_context(|| format!("writing {}", json_path.display()))?;

    std::fs::create_dir_all(docs_dir)
        .with_context(|| format!("creating {}", docs_dir.display()))?;
    let history = docs_dir.join("bench-history.jsonl");
    let mut lines = std::fs::read_to_string(&history).unwrap_or_default();
    lines.push_str(&record.to_string());
    lines.push('\n');
    std::fs::write(&history, lines).with_context(|| format!("writing {}", history.display()))?;

    let page = docs_dir.join(format!("bench-{suite}.md"));
    let text = format!(
        "# Benchmark: {suite}\n\nMeasured {when} by `cargo xtask bench` on this project's 2-core machine, \
         loopback, release build. Targets from `targets.md`; a floor is what the same measurement takes with \
         nothing of ours in the way, measured in the same run. Every run is appended to \
         [`bench-history.jsonl`](bench-history.jsonl).\n\n{table}"
    );
    std::fs::write(&page, text).with_context(|| format!("writing {}", page.display()))?;
    println!(
        "wrote {}, {} and {}",
        json_path.display(),
        page.display(),
        history.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_met_target_says_met_and_has_no_missed_line() {
        let f = Figure::new("size", 150.0, "kB", Some(150.0)).with_why("because");
        assert_eq!(f.verdict(), "met");
        assert_eq!(f.missed_line(), None);
        assert_eq!(Figure::new("size", 1.0, "kB", None).verdict(), "");
    }

    #[test]
    fn a_missed_target_says_by_how_much_and_why() {
        let f = Figure::new("app size", 282.0, "kB", Some(150.0)).with_why("the wasm is 262 kB.");
        assert_eq!(f.verdict(), "MISSED by 132 kB (+88 %)");
        assert_eq!(
            f.missed_line().as_deref(),
            Some(
                "- **app size**: 282 kB against ≤ 150 kB, over by 132 kB (+88 %). \
                 Why: the wasm is 262 kB."
            )
        );
    }

    #[test]
    fn a_miss_without_a_measured_cause_says_so() {
        let f = Figure::new("p99", 6.02, "ms", Some(4.0));
        let line = f.missed_line().unwrap_or_default();
        assert!(line.ends_with(NO_CAUSE), "{line}");
        assert!(line.contains("over by 2.02 ms (+50 %)"), "{line}");
    }

    #[test]
    fn a_figure_the_run_could_not_measure_is_not_met() {
        let f = Figure::new("decode", f64::NAN, "ms", Some(60.0));
        assert_eq!(f.verdict(), "NOT MEASURED");
        let line = f.missed_line().unwrap_or_default();
        assert!(
            line.starts_with("- **decode**: not measured (the run gave NaN)"),
            "{line}"
        );
        let infinite = Figure::new("rate", f64::INFINITY, "rows/s", Some(1.0));
        assert_eq!(infinite.verdict(), "NOT MEASURED");
        assert_eq!(Figure::new("x", f64::NAN, "ms", None).verdict(), "");
    }

    #[test]
    fn small_misses_and_zero_targets_are_written_so_they_add_up() {
        let close = Figure::new("gzip", 216.99, "ms", Some(216.47));
        assert_eq!(close.verdict(), "MISSED by 0.520 ms (+<1 %)");
        assert_eq!(close.target_text(), "≤ 216.470 ms");
        assert_eq!(close.value_text(), "216.990");
        let closer = Figure::new("gzip", 216.52, "ms", Some(216.47)).with_floor(Some(96.47));
        assert_eq!(closer.verdict(), "MISSED by 0.050 ms (+<1 %)");
        assert_eq!(
            (
                closer.value_text(),
                closer.target_text(),
                closer.floor_text()
            ),
            ("216.520".into(), "≤ 216.470 ms".into(), "96.470 ms".into())
        );
        let met = Figure::new("gzip", 200.0, "ms", Some(216.47)).with_floor(Some(96.47));
        assert_eq!(
            (met.target_text(), met.floor_text()),
            ("≤ 216.5 ms".into(), "96.47 ms".into())
        );
        assert_eq!(Figure::new("rows", 1225.4, "ms", None).value_text(), "1225");
        let line = close.missed_line().unwrap_or_default();
        assert!(
            line.contains("216.990 ms against ≤ 216.470 ms, over by 0.520 ms (+<1 %)"),
            "{line}"
        );
        let zero = Figure::new("failed connects", 3.0, "", Some(0.0));
        assert_eq!(zero.verdict(), "MISSED by 3");
    }

    #[test]
    fn the_report_lists_every_missed_target_under_the_table() {
        let dir = std::env::temp_dir().join(format!("onepulse-report-{}", std::process::id()));
        let figures = [
            Figure::new("kept", 0.8, "×", Some(1.0)),
            Figure::new("reconnect", 968.0, "ms", Some(500.0)).with_why("backoff."),
            Figure::new("size", 282.0, "kB", Some(150.0)),
            Figure::new("lost", f64::NAN, "ms", Some(1.0)),
        ];
        write(&figures, "test", &dir, &dir, "now").unwrap();
        let page = std::fs::read_to_string(dir.join("bench-test.md")).unwrap();
        let json = std::fs::read_to_string(dir.join("test.json")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let missed = page.split("## Missed targets").nth(1).unwrap_or_default();
        assert!(missed.contains("**reconnect**") && missed.contains("Why: backoff."));
        assert!(missed.contains("**size**") && missed.contains(NO_CAUSE));
        assert!(missed.contains("**lost**: not measured"), "{missed}");
        assert!(!missed.contains("**kept**"), "{missed}");
        assert!(json.contains("\"over_by\": 468.0"), "{json}");
        assert!(json.contains("\"verdict\": \"MISSED\""), "{json}");
        assert!(page.contains("| reconnect | 968 ms | ≤ 500 ms | — | MISSED by 468 ms (+94 %) |"));
    }
}
