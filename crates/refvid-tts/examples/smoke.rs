use refvid_tts::*;
fn main() -> anyhow::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let rt = SpeechRuntime::open(&dir, 2)?;
    let t = std::time::Instant::now();
    let voice = Voice::load(&dir.join("voices/en_US-joe-medium.onnx"), &rt)?;
    eprintln!("load {:?}", t.elapsed());
    let text = std::env::args().nth(2).unwrap();
    for ids in voice.phoneme_ids(&text)? {
        println!("{}", ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(","));
    }
    let mut o = voice.default_options();
    o.scales.noise_scale = 0.0; o.scales.noise_w = 0.0; o.normalize = false;
    for _ in 0..2 {
        let t = std::time::Instant::now();
        let s = voice.speak(&text, &o)?;
        eprintln!("speak {:?} -> {:.2}s audio", t.elapsed(), s.duration_secs());
        let t = std::time::Instant::now();
        let d = voice.duration_secs(&text, &o)?;
        eprintln!("duration {:?} -> {:.3}", t.elapsed(), d);
        std::fs::write("/tmp/p12scratch/rust_out.f32", s.samples.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())?;
    }
    Ok(())
}
