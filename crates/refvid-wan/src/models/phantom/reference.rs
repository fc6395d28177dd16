//! Reference images as Phantom prepares them (`generate.py`, `load_ref_images`): fitted into the
//! video size keeping the aspect ratio (Pillow's Lanczos, the scaled side truncated to an
//! integer), padded with white around the centre to exactly the video size, and scaled to
//! −1..1 (`(x/255 − 0.5) / 0.5`).

use candle_core::{DType, Device, Tensor};

use crate::error::{Result, WanError};
use crate::pipeline::Reference;
use crate::pipeline::resample::lanczos_rgb8;

/// The size a `w × h` image is resized to before padding to `width × height`.
pub fn fitted_size((w, h): (usize, usize), (width, height): (usize, usize)) -> (usize, usize) {
    let ratio = w as f64 / h as f64;
    if ratio > width as f64 / height as f64 {
        (width, (width as f64 / ratio) as usize)
    } else {
        ((height as f64 * ratio) as usize, height)
    }
}

/// An RGB8 image fitted and padded to `width × height` (interleaved RGB8 again).
pub fn fit_and_pad(
    data: &[u8],
    (w, h): (usize, usize),
    (width, height): (usize, usize),
) -> Result<Vec<u8>> {
    if data.len() != w * h * 3 || w == 0 || h == 0 {
        return Err(WanError::Input(format!(
            "reference image {w}x{h} needs {} RGB bytes, got {}",
            w * h * 3,
            data.len()
        )));
    }
    let (nw, nh) = fitted_size((w, h), (width, height));
    if nw == 0 || nh == 0 {
        return Err(WanError::Input(format!(
            "reference image {w}x{h} is too thin for a {width}x{height} video"
        )));
    }
    // Pillow returns a copy when the size does not change.
    let resized = if (nw, nh) == (w, h) {
        data.to_vec()
    } else {
        lanczos_rgb8(data, w, h, nw, nh)
    };
    let (left, top) = ((width - nw) / 2, (height - nh) / 2);
    let mut out = vec![255u8; width * height * 3];
    for (y, row) in resized.chunks(nw * 3).enumerate() {
        let start = ((top + y) * width + left) * 3;
        out[start..start + nw * 3].copy_from_slice(row);
    }
    Ok(out)
}

/// A reference as `[3, height, width]` f32 in −1..1: an RGB8 image is fitted and padded; a
/// tensor must already be `[3, height, width]` in −1..1.
pub fn prepare(r: &Reference, width: usize, height: usize, device: &Device) -> Result<Tensor> {
    match r {
        Reference::Rgb8 {
            width: w,
            height: h,
            data,
        } => {
            let rgb = fit_and_pad(data, (*w, *h), (width, height))?;
            let planar: Vec<f32> = (0..3)
                .flat_map(|c| rgb.iter().skip(c).step_by(3))
                .map(|&v| (f32::from(v) / 255.0 - 0.5) / 0.5)
                .collect();
            Ok(Tensor::from_vec(planar, (3, height, width), device)?)
        }
        Reference::Tensor(t) => {
            if t.dims() != [3, height, width] {
                return Err(WanError::Input(format!(
                    "reference image tensor must be [3, {height}, {width}] (the video size), got {:?}",
                    t.dims()
                )));
            }
            Ok(t.to_dtype(DType::F32)?.to_device(device)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_images_fill_the_width_and_tall_ones_the_height() {
        assert_eq!(fitted_size((100, 20), (64, 48)), (64, 12));
        assert_eq!(fitted_size((30, 60), (64, 48)), (24, 48));
        assert_eq!(fitted_size((64, 48), (64, 48)), (64, 48));
        // 832/480 vs 16:9: the wide image fills the width, its height truncated.
        assert_eq!(fitted_size((1920, 1080), (832, 480)), (832, 468));
    }

    #[test]
    fn padding_is_white_and_centred() {
        // A 2x1 black image into 4x4: resized to 4x2, rows 1 and 2.
        let out = fit_and_pad(&[0; 6], (2, 1), (4, 4)).unwrap();
        let rows: Vec<&[u8]> = out.chunks(12).collect();
        assert!(rows[0].iter().all(|&v| v == 255));
        assert!(rows[3].iter().all(|&v| v == 255));
        assert!(rows[1].iter().all(|&v| v < 128), "{:?}", rows[1]);
        assert!(fit_and_pad(&[0; 6], (600, 1), (4, 4)).is_err());
    }
}
