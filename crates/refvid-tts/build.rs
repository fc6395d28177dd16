//! Builds `host_stub.c` into a small shared library that the espeak-ng loader embeds
//! (see `src/espeak.rs`): the symbols the piper-tts wheel's espeak-ng module expects from a
//! Python host.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/host_stub.c");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let library = out.join("libpiper_host_stub.so");
    let compiler = cc::Build::new().get_compiler();
    let status = Command::new(compiler.path())
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&library)
        .arg("src/host_stub.c")
        .args(["-Wl,--no-as-needed", "-lm"])
        .status()
        .expect("running the C compiler for src/host_stub.c");
    assert!(status.success(), "building src/host_stub.c failed");
}
