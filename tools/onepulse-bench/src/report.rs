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
        }
    }

    /// The figure with the floor measured beside it.
    pub fn with_floor(mut self, floor: Option<f64>) -> Self {
        self.floor = floor;
        self
    }

    fn verdict(&self) -> &'static str {
        match self.target {
            None => "",
            Some(target) if self.value <= target => "met",
            Some(_) => "MISSED",
        }
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
    println!("\n{table}");

    let record = json!({
        "suite": suite,
        "when": when,
        "figures": figures.iter().map(|f| json!({
            "name": f.name, "value": f.value, "unit": f.unit,
            "target": f.target, "floor": f.floor, "verdict": f.verdict(),
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
