//! Times the installed en_US-joe-medium voice: load, then synthesis of a paragraph (the
//! real-time factor: seconds of work per second of speech), the durations-only pass, and the
//! process's peak memory.
//!
//!     cargo run --release -p refvid-tts --example tts_bench -- [THREADS] [ROUNDS]

use refvid_tts::{Catalog, runtime};
use std::time::Instant;

const TEXT: &str = "Good morning, Captain. The storm passed at 4:45, and forty-four ships are \
    back in the harbour. Dr. Smith says the crew is safe! Shall we begin the inspection now?";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    let catalog = Catalog::open(&runtime::default_dir(), &[], threads)?;
    let started = Instant::now();
    let voice = catalog.voice("en_US-joe-medium")?;
    println!(
        "load: {:.2} s ({threads} threads)",
        started.elapsed().as_secs_f64()
    );
    let options = voice.default_options();
    for round in 0..rounds {
        let started = Instant::now();
        let speech = voice.speak(TEXT, &options)?;
        let took = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let predicted = voice.duration_secs(TEXT, &options)?;
        let timing = started.elapsed().as_secs_f64();
        println!(
            "round {round}: {:.2} s of speech in {took:.2} s (RTF {:.3}); durations only {timing:.3} s (predicted {predicted:.2} s)",
            speech.duration_secs(),
            took / speech.duration_secs()
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?");
    println!(
        "peak resident memory: {}",
        peak.trim_start_matches("VmHWM:").trim()
    );
    Ok(())
}
