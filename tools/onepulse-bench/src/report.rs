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

    /// How far over its target the figure is, if it has a target and misses it.
    fn over_by(&self) -> Option<f64> {
        let target = self.target?;
        (self.value > target).then_some(self.value - target)
    }

    fn verdict(&self) -> String {
        match (self.target, self.over_by()) {
            (None, _) => String::new(),
            (Some(_), None) => "met".into(),
            (Some(target), Some(over)) => {
                format!(
                    "MISSED by {} {} ({})",
                    number(over),
                    self.unit,
                    percent(over, target)
                )
            }
        }
    }

    /// A line under the table for a missed target: by how much and why.
    fn missed_line(&self) -> Option<String> {
        let (target, over) = (self.target?, self.over_by()?);
        let why = self.why.as_deref().unwrap_or(NO_CAUSE);
        Some(format!(
            "- **{}**: {} {} against ≤ {} {}, over by {} {} ({}). Why: {why}",
            self.name,
            number(self.value),
            self.unit,
            number(target),
            self.unit,
            number(over),
            self.unit,
            percent(over, target),
        ))
    }

    fn target_text(&self) -> String {
        match self.target {
            None => "—".into(),
            Some(t) => format!("≤ {} {}", number(t), self.unit),
        }
    }

    fn floor_text(&self) -> String {
        match self.floor {
            None => "—".into(),
            Some(f) => format!("{} {}", number(f), self.unit),
        }
    }
}

/// What a missed figure says when its benchmark measured nothing that explains it.
const NO_CAUSE: &str = "no cause measured by this benchmark.";

/// `over` as a share of `target`, e.g. `+88 %`.
fn percent(over: f64, target: f64) -> String {
    if target > 0.0 {
        format!("+{:.0} %", over / target * 100.0)
    } else {
        "target 0".into()
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
            number(f.value),
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
            "target": f.target, "floor": f.floor, "verdict": f.verdict(),
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
    fn the_report_lists_every_missed_target_under_the_table() {
        let dir = std::env::temp_dir().join(format!("onepulse-report-{}", std::process::id()));
        let figures = [
            Figure::new("kept", 0.8, "×", Some(1.0)),
            Figure::new("reconnect", 968.0, "ms", Some(500.0)).with_why("backoff."),
            Figure::new("size", 282.0, "kB", Some(150.0)),
        ];
        write(&figures, "test", &dir, &dir, "now").unwrap();
        let page = std::fs::read_to_string(dir.join("bench-test.md")).unwrap();
        let json = std::fs::read_to_string(dir.join("test.json")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let missed = page.split("## Missed targets").nth(1).unwrap_or_default();
        assert!(missed.contains("**reconnect**") && missed.contains("Why: backoff."));
        assert!(missed.contains("**size**") && missed.contains(NO_CAUSE));
        assert!(!missed.contains("**kept**"), "{missed}");
        assert!(json.contains("\"over_by\": 468.0"), "{json}");
    }
}
