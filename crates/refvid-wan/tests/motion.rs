//! `movement_amplitude` reaches the model's conditioning: each level gives a different prompt
//! embedding (the tiny pipeline's UMT5), `auto` the user's prompt unchanged.

use std::path::Path;

use candle_core::{DType, Device};
use refvid_engine::Motion;
use refvid_wan::engine::motion::with_motion;
use refvid_wan::pipeline::WanVacePipeline;

#[test]
fn each_level_changes_the_text_conditioning() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-vace-r2v");
    let pipe = WanVacePipeline::load(&dir, DType::F32, &Device::Cpu).unwrap();
    let prompt = "A red fox walks in the snow";
    let plain = pipe.encode_prompt(prompt).unwrap();
    let levels = [Motion::Auto, Motion::Small, Motion::Medium, Motion::High];
    let embeds: Vec<_> = levels
        .iter()
        .map(|&m| pipe.encode_prompt(&with_motion(prompt, m)).unwrap())
        .collect();
    let diff = |a: &candle_core::Tensor, b: &candle_core::Tensor| -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    };
    assert_eq!(diff(&embeds[0], &plain), 0.0, "auto keeps the prompt");
    for i in 0..levels.len() {
        for j in i + 1..levels.len() {
            let d = diff(&embeds[i], &embeds[j]);
            assert!(
                d > 1e-3,
                "{:?} and {:?} embed alike ({d})",
                levels[i],
                levels[j]
            );
        }
    }
}
