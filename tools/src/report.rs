//! Figures for the documents: every bench and tool prints its figures for a reader, and when
//! `BENCH_REPORT` names a file it also appends each one there as a JSON line. One run of
//! `scripts/bench.sh` collects them and `scripts/report/render.py` writes `docs/performance.md`
//! from them, one table per `table`, so no figure in that document is written by hand.
//!
//! A line: `{"table", "figure", "result", "baseline", "ratio", "target", "met"}`; the baseline
//! is measured in the same run, `met` is absent where the target is a purpose rather than a
//! bound (a comparison, a sizing input). `{"table", "note"}` adds a sentence under a table.

use std::io::{self, Write};
use std::time::Duration;

use serde_json::{json, Value};

/// The environment variable naming the JSON-lines file.
pub const REPORT_ENV: &str = "BENCH_REPORT";

/// One row of a document's table.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    table: String,
    figure: String,
    result: String,
    baseline: Option<String>,
    ratio: Option<f64>,
    target: Option<String>,
    met: Option<bool>,
}

impl Figure {
    pub fn new(table: &str, figure: impl Into<String>, result: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            figure: figure.into(),
            result: result.into(),
            baseline: None,
            ratio: None,
            target: None,
            met: None,
        }
    }

    /// What the result is compared with, measured in the same run.
    pub fn baseline(mut self, baseline: impl Into<String>) -> Self {
        self.baseline = Some(baseline.into());
        self
    }

    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = Some(ratio);
        self
    }

    /// A bound the result must meet, and whether it did.
    pub fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        self.target = Some(target.into());
        self.met = Some(met);
        self
    }

    /// What the figure is for when it has no bound to meet.
    pub fn purpose(mut self, purpose: impl Into<String>) -> Self {
        self.target = Some(purpose.into());
        self.met = None;
        self
    }

    fn json(&self) -> Value {
        let mut line = json!({"table": self.table, "figure": self.figure, "result": self.result});
        let optional = [
            ("baseline", self.baseline.clone().map(Value::from)),
            ("ratio", self.ratio.map(Value::from)),
            ("target", self.target.clone().map(Value::from)),
            ("met", self.met.map(Value::from)),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                line[key] = value;
            }
        }
        line
    }

    /// Appends the figure to the report file, when there is one.
    pub fn record(&self) -> io::Result<()> {
        append(&self.json())
    }
}

/// A sentence under `table` (e.g. why a figure could not be measured on this machine).
pub fn note(table: &str, text: &str) -> io::Result<()> {
    append(&json!({"table": table, "note": text}))
}

fn append(line: &Value) -> io::Result<()> {
    let Some(path) = std::env::var_os(REPORT_ENV) else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    // One write per line, so lines from concurrent writers never interleave.
    file.write_all(format!("{line}\n").as_bytes())
}

/// "met" or "NOT met", for the printed lines.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The middle of `times`, the mean of the two middle ones for an even count (so two sides
/// compared over the same number of rounds are read alike); zero when there are none.
pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    let upper = times.len() / 2;
    match times.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => times[upper],
        _ => (times[upper - 1] + times[upper]) / 2,
    }
}

/// KiB (as `/proc` counts memory) in MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `12345` as `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_is_one_json_line_without_empty_fields() {
        let figure = Figure::new("limits", "throttle", "4,511 ms")
            .baseline("ideal 4,500 ms")
            .ratio(1.002)
            .target("≤ 1.10", true);
        assert_eq!(
            figure.json(),
            json!({"table": "limits", "figure": "throttle", "result": "4,511 ms",
                   "baseline": "ideal 4,500 ms", "ratio": 1.002, "target": "≤ 1.10", "met": true})
        );
        let purpose = Figure::new("t", "f", "r").purpose("(comparison)");
        assert_eq!(
            purpose.json(),
            json!({"table": "t", "figure": "f", "result": "r", "target": "(comparison)"})
        );
    }

    #[test]
    fn the_median_is_the_middle_time() {
        let ms = Duration::from_millis;
        assert_eq!(median(vec![ms(30), ms(10), ms(20)]), ms(20));
        assert_eq!(median(vec![ms(40), ms(10), ms(20), ms(30)]), ms(25));
        assert_eq!(median(Vec::new()), Duration::ZERO);
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(3_366_860), "3,366,860");
    }
}
