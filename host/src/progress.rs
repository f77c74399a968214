//! What an operator watching a long run sees on stderr: a bar per transfer on a terminal,
//! a line every few seconds otherwise (CI logs, `| tee`), and one line per step.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    bars: Option<Arc<MultiProgress>>,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let bars = (!quiet && std::io::stderr().is_terminal())
            .then(|| Arc::new(MultiProgress::with_draw_target(ProgressDrawTarget::stderr())));
        Progress { bars, quiet }
    }

    /// Nothing on stderr (tests that read the output, `--quiet`).
    pub fn silent() -> Progress {
        Progress {
            bars: None,
            quiet: true,
        }
    }

    pub fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    pub fn transfer(&self, label: String, total: Option<u64>) -> Transfer {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::new_spinner(),
            };
            let template = if total.is_some() {
                "  {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
            } else {
                "  {spinner} {msg} {bytes} {bytes_per_sec} {elapsed}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(label.clone());
            bar.enable_steady_tick(Duration::from_millis(200));
            bars.add(bar)
        });
        Transfer {
            bar,
            quiet: self.quiet,
            label,
            bytes: 0,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }
}

pub struct Transfer {
    bar: Option<ProgressBar>,
    quiet: bool,
    label: String,
    bytes: u64,
    started: Instant,
    last_line: Instant,
}

const LINE_EVERY: Duration = Duration::from_secs(10);

impl Transfer {
    pub fn add(&mut self, n: u64) {
        self.bytes += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None if !self.quiet && self.last_line.elapsed() >= LINE_EVERY => {
                self.last_line = Instant::now();
                eprintln!(
                    "  {}: {} so far ({})",
                    self.label,
                    human(self.bytes),
                    rate(self.bytes, self.started.elapsed())
                );
            }
            None => {}
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn finish(self, ok: bool) {
        let summary = format!(
            "  {}: {} {} in {:.1}s ({})",
            self.label,
            if ok { "moved" } else { "stopped after" },
            human(self.bytes),
            self.started.elapsed().as_secs_f64(),
            rate(self.bytes, self.started.elapsed())
        );
        match self.bar {
            Some(bar) => bar.finish_and_clear(),
            None if self.quiet => return,
            None => {}
        }
        if !self.quiet {
            eprintln!("{summary}");
        }
    }
}

pub fn human(bytes: u64) -> String {
    let mut value = bytes as f64;
    for unit in ["B", "KiB", "MiB", "GiB", "TiB"] {
        if value < 1024.0 || unit == "TiB" {
            return if unit == "B" {
                format!("{bytes} B")
            } else {
                format!("{value:.1} {unit}")
            };
        }
        value /= 1024.0;
    }
    unreachable!("the loop returns at TiB")
}

fn rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    format!("{}/s", human((bytes as f64 / secs) as u64))
}
