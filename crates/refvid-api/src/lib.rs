//! The wire contract of refvid (`docs/API.md`), with no I/O.
//!
//! A submit body becomes a checked [`TaskSpec`] exactly once, at the edge ([`parse_submit`]);
//! everything after that trusts it. The error envelope and its reason codes live in [`error`],
//! the task-result document in [`result`].

pub mod data_uri;
pub mod dialogue;
pub mod ent;
pub mod error;
pub mod geometry;
pub mod request;
pub mod responses;
pub mod result;
pub mod spec;
mod validate;
pub mod voices;

pub use error::{ApiError, ErrorCode, ErrorEnvelope, FieldError};
pub use geometry::{AspectRatio, Geometry, Resolution};
pub use result::{TaskResultDoc, TaskStatus};
pub use spec::{ImageSource, Movement, SubjectSpec, TaskSpec, TestMode, Upstream, WebhookSpec};
pub use validate::parse_submit;

/// The `task_type` we report for every task of this endpoint.
pub const TASK_TYPE: &str = "VIDUQ2_PRO_FAST_REFERENCE_TO_VIDEO";
/// Frames per second of every output clip.
pub const OUTPUT_FPS: u32 = 24;
/// Largest request body and largest single image, in bytes (20 MiB).
pub const MAX_BODY_BYTES: usize = 20 * 1024 * 1024;
/// Largest decoded image, in bytes (20 MiB).
pub const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;
