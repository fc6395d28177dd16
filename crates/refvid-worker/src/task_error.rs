//! How a task did not succeed, as every stage of running it reports it.

/// How a task did not succeed.
#[derive(Debug)]
pub enum TaskError {
    /// The request cannot succeed as given; the sentence tells the user why.
    Final(String),
    /// A fault outside the request (storage); worth another attempt later.
    Transient(String),
    /// Another worker owns the task now (our lease ran out); drop it silently.
    LostLease,
}
