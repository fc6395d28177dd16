//! Progress bars of a pull: one per file being downloaded, and the total.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of one pull (hidden when the caller asked for quiet).
pub(crate) struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    visible: bool,
}

impl Bars {
    pub(crate) fn new(total_bytes: u64, visible: bool) -> Self {
        let target = match visible {
            true => ProgressDrawTarget::stderr(),
            false => ProgressDrawTarget::hidden(),
        };
        let multi = MultiProgress::with_draw_target(target);
        let total = multi.add(ProgressBar::new(total_bytes));
        total.set_style(style(
            "{msg:>32} [{bar:32}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        ));
        total.set_message("total");
        Self {
            multi,
            total,
            visible,
        }
    }

    /// Counts a file that was already in place.
    pub(crate) fn skip(&self, bytes: u64) {
        self.total.inc(bytes);
    }

    /// A bar for one file's download, feeding the total too.
    pub(crate) fn file(&self, name: &str) -> FileBar {
        let bar = match self.visible {
            true => self.multi.insert_before(&self.total, ProgressBar::new(0)),
            false => ProgressBar::hidden(),
        };
        bar.set_style(style(
            "{msg:>32} [{bar:32}] {bytes}/{total_bytes} {binary_bytes_per_sec}",
        ));
        bar.set_message(short(name));
        FileBar {
            bar,
            total: self.total.clone(),
        }
    }

    pub(crate) fn finish(&self) {
        self.total.finish_and_clear();
    }
}

/// One file's bar; clones share it (the downloader clones it per chunk).
#[derive(Clone)]
pub(crate) struct FileBar {
    bar: ProgressBar,
    total: ProgressBar,
}

impl FileBar {
    /// Takes this file's bytes back out of the total (before downloading it again).
    pub(crate) fn undo(&self) {
        let counted = self.bar.position();
        self.total
            .set_position(self.total.position().saturating_sub(counted));
        self.bar.set_position(0);
    }
}

impl hf_hub::api::tokio::Progress for FileBar {
    async fn init(&mut self, size: usize, _filename: &str) {
        self.bar.set_length(size as u64);
    }

    async fn update(&mut self, bytes: usize) {
        self.bar.inc(bytes as u64);
        self.total.inc(bytes as u64);
    }

    async fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("a valid template")
        .progress_chars("=> ")
}

/// The last 32 characters of a path.
fn short(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0..=32 => name.to_string(),
        n => format!("…{}", chars[n - 31..].iter().collect::<String>()),
    }
}
