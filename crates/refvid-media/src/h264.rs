//! A small safe session over OpenH264's encoder C API (the library built from source by
//! `openh264-sys2`).
//!
//! We drive the C API ourselves instead of the `openh264` crate's `Encoder` because that wrapper
//! refuses any frame wider than 3840 pixels, while the library itself follows the H.264 level
//! limits up to level 5.2 (36 864 macroblocks a frame): the spec's 1080p 4:1 (4320×1080) and
//! 1:4 (1080×4320) frames are inside them. The `openh264` crate still does the RGB → I420
//! conversion ([`YUVBuffer`]) and the decoding in [`crate::probe`].

use openh264::OpenH264API;
use openh264::formats::{YUVBuffer, YUVSource};
use openh264_sys2::{
    API, CAMERA_VIDEO_REAL_TIME, CONSTANT_ID, DEBLOCKING_IDC_0, ENCODER_OPTION,
    ENCODER_OPTION_DATAFORMAT, ENCODER_OPTION_TRACE_LEVEL, ISVCEncoder, MEDIUM_COMPLEXITY,
    RC_BITRATE_MODE, SEncParamExt, SFrameBSInfo, SM_SINGLE_SLICE, SSourcePicture, WELS_LOG_QUIET,
    videoFormatI420, videoFrameTypeI, videoFrameTypeIDR,
};
use std::os::raw::{c_int, c_void};
use std::ptr::null_mut;

/// Macroblocks a frame may have at H.264 level 5.2, the highest OpenH264 writes.
const MAX_FRAME_MACROBLOCKS: u64 = 36_864;

/// Why the encoder could not start or encode; the codes are OpenH264's own return values.
#[derive(Debug, thiserror::Error)]
pub enum H264Error {
    #[error("OpenH264 could not create an encoder (code {0})")]
    Create(c_int),
    #[error("OpenH264 refused the settings (code {0})")]
    Settings(c_int),
    #[error("OpenH264 failed to encode (code {0})")]
    Encode(c_int),
    #[error("a {got_w}×{got_h} picture was given to a {want_w}×{want_h} encoder")]
    PictureSize {
        got_w: usize,
        got_h: usize,
        want_w: usize,
        want_h: usize,
    },
}

/// What the video is to be: size, rate and the rate control's target.
#[derive(Debug, Clone, Copy)]
pub struct H264Settings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate: u32,
    /// Frames from one IDR frame to the next.
    pub intra_period: u32,
}

/// One encoded picture: its NAL units in Annex B form.
pub struct EncodedPicture {
    pub annex_b: Vec<u8>,
    pub keyframe: bool,
}

/// True when the frame size is inside what H.264 level 5.2 allows and OpenH264 takes: even
/// sides of at least 16, at most 36 864 macroblocks, and neither side longer than
/// √(8 · 36 864) = 543 macroblocks.
pub fn frame_size_supported(width: u32, height: u32) -> bool {
    let mbs = |pixels: u32| u64::from(pixels).div_ceil(16);
    let (mbs_w, mbs_h) = (mbs(width), mbs(height));
    width.min(height) >= 16
        && width.is_multiple_of(2)
        && height.is_multiple_of(2)
        && mbs_w * mbs_h <= MAX_FRAME_MACROBLOCKS
        && mbs_w * mbs_w <= 8 * MAX_FRAME_MACROBLOCKS
        && mbs_h * mbs_h <= 8 * MAX_FRAME_MACROBLOCKS
}

/// An initialised OpenH264 encoder for one size; destroyed on drop.
pub struct H264Encoder {
    api: OpenH264API,
    encoder: *mut ISVCEncoder,
    info: Box<SFrameBSInfo>,
    settings: H264Settings,
    frames: i64,
}

// The encoder is only ever used through `&mut self`, from one thread at a time.
unsafe impl Send for H264Encoder {}

impl H264Encoder {
    /// Creates and initialises the encoder; the size must pass [`frame_size_supported`].
    pub fn new(settings: H264Settings) -> Result<Self, H264Error> {
        let api = OpenH264API::from_source();
        let mut encoder: *mut ISVCEncoder = null_mut();
        // SAFETY: the out-pointer is valid; a non-zero code leaves no encoder to free.
        let code = unsafe { api.WelsCreateSVCEncoder(&mut encoder) };
        if code != 0 || encoder.is_null() {
            return Err(H264Error::Create(code));
        }
        let mut session = Self {
            api,
            encoder,
            info: Box::default(),
            settings,
            frames: 0,
        };
        session.initialise()?;
        Ok(session)
    }

    /// The vtable of the encoder object (a C++ object seen through its C interface).
    fn vtable(&self) -> &openh264_sys2::ISVCEncoderVtbl {
        // SAFETY: `encoder` came from WelsCreateSVCEncoder and lives until drop.
        unsafe { &**self.encoder }
    }

    /// Fills OpenH264's defaults, applies ours and initialises. The trace level is set first
    /// (OpenH264 allows that one option before initialising), so that it prints nothing to
    /// stderr, not even its warnings about our settings.
    fn initialise(&mut self) -> Result<(), H264Error> {
        let vt = self.vtable();
        let (get_defaults, init_ext) = (
            vt.GetDefaultParams.ok_or(H264Error::Settings(-1))?,
            vt.InitializeExt.ok_or(H264Error::Settings(-1))?,
        );
        let mut params = SEncParamExt::default();
        // SAFETY: the encoder is valid and `params` is a properly sized out-parameter.
        settings_result(unsafe { get_defaults(self.encoder, &mut params) })?;
        apply_settings(&mut params, self.settings);
        self.set_int_option(ENCODER_OPTION_TRACE_LEVEL, WELS_LOG_QUIET as c_int)?;
        // SAFETY: as above; InitializeExt copies what it needs from `params`.
        settings_result(unsafe { init_ext(self.encoder, &params) })?;
        self.set_int_option(ENCODER_OPTION_DATAFORMAT, videoFormatI420 as c_int)
    }

    /// Sets an option whose value is one integer.
    fn set_int_option(&self, option: ENCODER_OPTION, value: c_int) -> Result<(), H264Error> {
        let set_option = self.vtable().SetOption.ok_or(H264Error::Settings(-1))?;
        let mut value = value;
        // SAFETY: the encoder is valid and the option reads one integer, copied during the call.
        let code = unsafe {
            set_option(
                self.encoder,
                option,
                (&mut value as *mut c_int).cast::<c_void>(),
            )
        };
        settings_result(code)
    }

    /// Encodes one I420 picture of the session's size.
    pub fn encode(&mut self, yuv: &YUVBuffer) -> Result<EncodedPicture, H264Error> {
        let (w, h) = yuv.dimensions();
        let (want_w, want_h) = (self.settings.width as usize, self.settings.height as usize);
        if (w, h) != (want_w, want_h) {
            return Err(H264Error::PictureSize {
                got_w: w,
                got_h: h,
                want_w,
                want_h,
            });
        }
        let strides = yuv.strides_i32();
        let timestamp_ms = self.frames * 1000 / i64::from(self.settings.fps.max(1));
        let picture = SSourcePicture {
            iColorFormat: videoFormatI420 as c_int,
            iStride: [strides.0, strides.1, strides.2, 0],
            // The encoder only reads the planes; the C signature lacks `const`.
            pData: [
                yuv.y().as_ptr().cast_mut(),
                yuv.u().as_ptr().cast_mut(),
                yuv.v().as_ptr().cast_mut(),
                null_mut(),
            ],
            iPicWidth: w as c_int,
            iPicHeight: h as c_int,
            uiTimeStamp: timestamp_ms,
            bPsnrY: false,
            bPsnrU: false,
            bPsnrV: false,
        };
        let encode = self.vtable().EncodeFrame.ok_or(H264Error::Encode(-1))?;
        // SAFETY: the planes are as large as the strides and height say (YUVBuffer owns them);
        // `info` is a valid out-parameter that the encoder fills with pointers into its own
        // buffers, read below before the next call.
        let code = unsafe { encode(self.encoder, &picture, &mut *self.info) };
        if code != 0 {
            return Err(H264Error::Encode(code));
        }
        self.frames += 1;
        Ok(EncodedPicture {
            annex_b: self.collect_nal_units(),
            keyframe: matches!(self.info.eFrameType, t if t == videoFrameTypeIDR || t == videoFrameTypeI),
        })
    }

    /// The NAL units of every layer of the last encoded picture, in order.
    fn collect_nal_units(&self) -> Vec<u8> {
        let info = &*self.info;
        let layers = usize::try_from(info.iLayerNum)
            .unwrap_or(0)
            .min(info.sLayerInfo.len());
        let mut out = Vec::new();
        for layer in &info.sLayerInfo[..layers] {
            let nal_count = usize::try_from(layer.iNalCount).unwrap_or(0);
            if nal_count == 0 || layer.pBsBuf.is_null() || layer.pNalLengthInByte.is_null() {
                continue;
            }
            // SAFETY: OpenH264 sets `pNalLengthInByte` to `iNalCount` lengths of NAL units
            // stored back to back from `pBsBuf`.
            unsafe {
                let lengths = std::slice::from_raw_parts(layer.pNalLengthInByte, nal_count);
                let total: usize = lengths
                    .iter()
                    .map(|&n| usize::try_from(n).unwrap_or(0))
                    .sum();
                out.extend_from_slice(std::slice::from_raw_parts(layer.pBsBuf, total));
            }
        }
        out
    }
}

/// OpenH264's return code for a settings call as a result.
fn settings_result(code: c_int) -> Result<(), H264Error> {
    if code == 0 {
        Ok(())
    } else {
        Err(H264Error::Settings(code))
    }
}

/// Our choices on top of OpenH264's defaults: one layer of the given size, rate-controlled to
/// the target without skipping frames, an IDR every `intra_period` frames, single slice, and a
/// VUI saying BT.601 limited range (what `YUVBuffer::read_rgb8` writes), so players do not
/// assume BT.709 for HD and shift the colours.
fn apply_settings(params: &mut SEncParamExt, s: H264Settings) {
    let bitrate = c_int::try_from(s.bitrate).unwrap_or(c_int::MAX);
    params.iUsageType = CAMERA_VIDEO_REAL_TIME;
    params.iPicWidth = s.width as c_int;
    params.iPicHeight = s.height as c_int;
    params.iRCMode = RC_BITRATE_MODE;
    params.iTargetBitrate = bitrate;
    params.bEnableFrameSkip = false;
    params.fMaxFrameRate = s.fps as f32;
    params.eSpsPpsIdStrategy = CONSTANT_ID;
    params.iComplexityMode = MEDIUM_COMPLEXITY;
    params.uiIntraPeriod = s.intra_period;
    params.iLoopFilterDisableIdc = DEBLOCKING_IDC_0 as c_int;
    params.iMinQp = 0;
    params.iMaxQp = 51;
    params.bEnableDenoise = false;
    params.bEnableSceneChangeDetect = true;
    params.bEnableAdaptiveQuant = true;
    params.bEnableBackgroundDetection = true;
    params.bEnableLongTermReference = false;
    params.iSpatialLayerNum = 1;
    params.iTemporalLayerNum = 1;
    params.iMultipleThreadIdc = 0;
    let layer = &mut params.sSpatialLayers[0];
    layer.iVideoWidth = s.width as c_int;
    layer.iVideoHeight = s.height as c_int;
    layer.fFrameRate = s.fps as f32;
    layer.iSpatialBitrate = bitrate;
    layer.iMaxSpatialBitrate = bitrate;
    layer.sSliceArgument.uiSliceMode = SM_SINGLE_SLICE;
    layer.sSliceArgument.uiSliceNum = 1;
    layer.bVideoSignalTypePresent = true;
    layer.bColorDescriptionPresent = true;
    layer.bFullRange = false;
    // H.264 table E-3: 6 = SMPTE 170M (BT.601 525) for primaries, transfer and matrix.
    layer.uiColorPrimaries = 6;
    layer.uiTransferCharacteristics = 6;
    layer.uiColorMatrix = 6;
}

impl Drop for H264Encoder {
    fn drop(&mut self) {
        // SAFETY: `encoder` came from WelsCreateSVCEncoder (else `Self` never existed) and is
        // destroyed exactly once; Uninitialize does nothing when initialisation had failed.
        unsafe {
            if let Some(uninit) = self.vtable().Uninitialize {
                uninit(self.encoder);
            }
            self.api.WelsDestroySVCEncoder(self.encoder);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_5_2_bounds_the_frame_size() {
        for (w, h) in [
            (1920, 1080),
            (4320, 1080),
            (1080, 4320),
            (3840, 2160),
            (16, 16),
        ] {
            assert!(frame_size_supported(w, h), "{w}x{h}");
        }
        // 8704 = 544 macroblocks wide; 4096×2304 = 36 864 + 256 macroblocks.
        for (w, h) in [(8704, 16), (16, 8704), (4112, 2304), (1281, 720), (14, 720)] {
            assert!(!frame_size_supported(w, h), "{w}x{h}");
        }
    }

    #[test]
    fn a_picture_of_another_size_is_refused() {
        let settings = H264Settings {
            width: 64,
            height: 48,
            fps: 24,
            bitrate: 1_000_000,
            intra_period: 24,
        };
        let mut encoder = H264Encoder::new(settings).unwrap();
        let err = encoder.encode(&YUVBuffer::new(32, 48)).err().unwrap();
        assert!(matches!(err, H264Error::PictureSize { got_w: 32, .. }));
        let first = encoder.encode(&YUVBuffer::new(64, 48)).unwrap();
        assert!(first.keyframe);
        assert_eq!(&first.annex_b[..4], &[0, 0, 0, 1]);
    }

    /// Settings the library refuses are an error, and dropping the half-made session is safe.
    #[test]
    fn settings_the_library_refuses_are_an_error() {
        let settings = H264Settings {
            width: 10_000,
            height: 10_000,
            fps: 24,
            bitrate: 1_000_000,
            intra_period: 24,
        };
        assert!(matches!(
            H264Encoder::new(settings),
            Err(H264Error::Settings(_))
        ));
    }

    /// A moving gradient as I420, through the same RGB conversion the writer uses.
    fn picture(width: usize, height: usize, t: usize) -> YUVBuffer {
        let rgb: Vec<u8> = (0..width * height)
            .flat_map(|i| {
                let (x, y) = (i % width, i / width);
                [
                    (x * 4 + t * 9) as u8,
                    (y * 4) as u8,
                    ((x + y + t * 5) * 2) as u8,
                ]
            })
            .collect();
        let mut yuv = YUVBuffer::new(width, height);
        yuv.read_rgb8(openh264::formats::RgbSliceU8::new(&rgb, (width, height)));
        yuv
    }

    /// Our session sets the same parameters the `openh264` crate's encoder sets for the
    /// configuration we used before (bit rate mode, no frame skip, IDR period, BT.601 VUI), so
    /// at a size both take the bitstreams are identical, byte for byte.
    #[test]
    fn the_bitstream_matches_the_crate_wrapper_at_sizes_both_take() {
        use openh264::encoder::{
            BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, RateControlMode,
            VuiConfig,
        };
        let (w, h, fps, bitrate) = (96, 64, 24, 1_000_000);
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(bitrate))
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            .rate_control_mode(RateControlMode::Bitrate)
            .skip_frames(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(4))
            .vui(VuiConfig::bt601());
        let mut theirs = Encoder::with_api_config(OpenH264API::from_source(), config).unwrap();
        let mut ours = H264Encoder::new(H264Settings {
            width: w,
            height: h,
            fps,
            bitrate,
            intra_period: 4,
        })
        .unwrap();
        let mut keyframes = 0;
        for t in 0..9 {
            let yuv = picture(w as usize, h as usize, t);
            let expected = theirs.encode(&yuv).unwrap().to_vec();
            let got = ours.encode(&yuv).unwrap();
            assert_eq!(got.annex_b, expected, "frame {t}");
            keyframes += usize::from(got.keyframe);
        }
        assert_eq!(keyframes, 3, "an IDR frame every 4 frames");
    }
}
