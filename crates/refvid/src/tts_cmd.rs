//! `refvid tts`: one text (or one sentence of phoneme ids) spoken to a WAV file with a Piper
//! voice, or the ids the text becomes (`docs/PARITY.md`, "Speech").

use anyhow::{Context, bail};
use clap::Args;
use refvid_tts::{Catalog, Phonemizer, SpeakOptions, SpeechRuntime, Voice};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the speech runtime and voices are (shared by `serve`, `worker`, `generate`, `tts`).
#[derive(Debug, Args, Clone)]
pub struct SpeechArgs {
    /// The speech runtime folder made by scripts/install-speech.sh (espeak-ng, ONNX Runtime,
    /// the default voice); default $XDG_DATA_HOME/refvid/speech (~/.local/share/refvid/speech).
    #[arg(long, env = "REFVID_SPEECH_DIR")]
    pub speech_dir: Option<PathBuf>,
    /// More Piper voices: NAME.onnx with NAME.onnx.json beside it; voice_id NAME (NAME:SPEAKER
    /// for a multi-speaker voice).
    #[arg(long, env = "REFVID_VOICES_DIR")]
    pub voices_dir: Option<PathBuf>,
    /// Threads one synthesis may use (default: all cores).
    #[arg(long, env = "REFVID_SPEECH_THREADS")]
    pub speech_threads: Option<usize>,
}

impl SpeechArgs {
    pub fn dir(&self) -> PathBuf {
        self.speech_dir
            .clone()
            .unwrap_or_else(refvid_tts::runtime::default_dir)
    }

    pub fn threads(&self) -> usize {
        self.speech_threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }

    /// The voices this process can use; empty (saying why) when the runtime is not installed.
    pub fn catalog(&self) -> anyhow::Result<Catalog> {
        let extra: Vec<PathBuf> = self.voices_dir.iter().cloned().collect();
        Ok(Catalog::open(&self.dir(), &extra, self.threads())?)
    }
}

#[derive(Debug, Args)]
pub struct TtsArgs {
    /// A voice id (en_US-joe-medium, a name from --voices-dir, NAME:SPEAKER) or the path of a
    /// Piper .onnx file with its .onnx.json beside it.
    #[arg(long)]
    pub voice: String,
    /// The text to speak.
    #[arg(
        long,
        conflicts_with = "phoneme_ids",
        required_unless_present = "phoneme_ids"
    )]
    pub text: Option<String>,
    /// One sentence's ids, comma-separated, as --print-phoneme-ids prints them.
    #[arg(long)]
    pub phoneme_ids: Option<String>,
    /// Print the ids --text becomes (one sentence a line) instead of speaking.
    #[arg(long, requires = "text")]
    pub print_phoneme_ids: bool,
    /// Where to write the WAV (16-bit PCM mono at the voice's rate).
    #[arg(long, short, required_unless_present = "print_phoneme_ids")]
    pub out: Option<PathBuf>,
    /// Noise of the prior (default: the voice config's).
    #[arg(long)]
    pub noise_scale: Option<f32>,
    /// Phoneme length multiplier, >1 is slower (default: the voice config's).
    #[arg(long)]
    pub length_scale: Option<f32>,
    /// Noise of the durations (default: the voice config's).
    #[arg(long)]
    pub noise_w: Option<f32>,
    /// Speaker of a multi-speaker voice: its number or name.
    #[arg(long)]
    pub speaker: Option<String>,
    /// Seeds the noise (the same seed gives the same audio).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub speech: SpeechArgs,
}

/// Runs `refvid tts`.
pub fn run(args: &TtsArgs) -> anyhow::Result<()> {
    if args.print_phoneme_ids {
        return print_ids(args);
    }
    let (voice, speaker_from_id) = open_voice(args)?;
    let options = options(args, &voice, speaker_from_id)?;
    let speech = match (&args.text, &args.phoneme_ids) {
        (Some(text), _) => voice.speak(text, &options)?,
        (None, Some(line)) => voice.speak_ids(&[parse_ids(line)?], &options)?,
        (None, None) => bail!("give --text or --phoneme-ids"),
    };
    let out = args.out.as_ref().context("give -o OUT.wav")?;
    let pcm = refvid_tts::wav::to_i16(&speech.samples);
    std::fs::write(out, refvid_tts::wav::encode(&pcm, speech.sample_rate))
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "wrote {} ({:.2} s at {} Hz)",
        out.display(),
        speech.duration_secs(),
        speech.sample_rate
    );
    Ok(())
}

/// `--print-phoneme-ids`: needs the voice's config and espeak-ng, not its model.
fn print_ids(args: &TtsArgs) -> anyhow::Result<()> {
    let runtime = SpeechRuntime::open(&args.speech.dir(), 1)?;
    let model = match args.voice.ends_with(".onnx") {
        true => PathBuf::from(&args.voice),
        false => {
            let catalog = args.speech.catalog()?;
            catalog
                .resolve(&args.voice)
                .map(|(e, _)| e.model.clone())
                .with_context(|| format!("--voice {:?}", args.voice))?
        }
    };
    let phonemizer = Phonemizer::load(&model, &runtime)?;
    for ids in phonemizer.phoneme_ids(args.text.as_deref().unwrap_or_default())? {
        println!("{}", join(&ids));
    }
    Ok(())
}

/// The voice `--voice` names, and the speaker its id carries (`NAME:SPEAKER`).
fn open_voice(args: &TtsArgs) -> anyhow::Result<(Arc<Voice>, Option<u32>)> {
    let as_path = Path::new(&args.voice);
    if args.voice.ends_with(".onnx") && as_path.is_file() {
        let runtime = SpeechRuntime::open(&args.speech.dir(), args.speech.threads())?;
        let voice = Voice::load(as_path, &runtime)
            .with_context(|| format!("loading the voice {}", as_path.display()))?;
        return Ok((Arc::new(voice), None));
    }
    let catalog = args.speech.catalog()?;
    if let Some(why) = catalog.unavailable() {
        bail!("no voice can be used: {why}");
    }
    let (entry, speaker) = catalog.resolve(&args.voice).with_context(|| {
        let names: Vec<&str> = catalog.entries().iter().map(|e| e.name.as_str()).collect();
        format!("--voice {:?}; installed: {}", args.voice, names.join(", "))
    })?;
    let speaker = refvid_tts::VoiceId::parse(&args.voice).speaker.and(speaker);
    Ok((catalog.voice(&entry.name)?, speaker))
}

fn options(
    args: &TtsArgs,
    voice: &Voice,
    speaker_from_id: Option<u32>,
) -> anyhow::Result<SpeakOptions> {
    let mut options = voice.default_options();
    options.seed = args.seed;
    if let Some(v) = args.noise_scale {
        options.scales.noise_scale = v;
    }
    if let Some(v) = args.length_scale {
        options.scales.length_scale = v;
    }
    if let Some(v) = args.noise_w {
        options.scales.noise_w = v;
    }
    if let Some(id) = speaker_from_id {
        options.speaker = Some(id);
    }
    if let Some(which) = &args.speaker {
        options.speaker = Some(voice.config().speaker(which)?);
    }
    Ok(options)
}

fn parse_ids(line: &str) -> anyhow::Result<Vec<i64>> {
    let ids = line
        .split(',')
        .map(|v| v.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| "--phoneme-ids takes comma-separated integers, e.g. 1,0,20,0,2")?;
    anyhow::ensure!(!ids.is_empty(), "--phoneme-ids is empty");
    Ok(ids)
}

fn join(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}
