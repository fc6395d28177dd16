//! Integration tests: the real server on port 0, spoken to over HTTP.

mod helpers;

mod auth_and_keys;
mod cancel;
mod cli;
mod console;
mod dialogue;
mod downloads;
mod end_to_end;
mod ent;
mod faults;
mod models;
mod offload;
mod openapi;
mod oversized;
mod phantom;
mod references;
mod request_info;
mod restart;
mod s3_outputs;
mod scale_out;
mod sound;
mod tts_cli;
mod typed_client;
mod validation;
mod wan;
mod wan_fast;
mod watermark;
mod webdriver;
mod webhooks;
