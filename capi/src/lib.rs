//! # rocketmq-bridge-capi
//!
//! The C ABI of the [`rocketmq_bridge`] library: `include/rocketmq_bridge.h` at the repository
//! root declares it (functions, structs, status codes, the ABI version and its semver promise,
//! the thread rules). Built as `cdylib` (`librocketmq_bridge_capi.so`) and `staticlib`
//! (`librocketmq_bridge_capi.a`) for C hosts, and as `rlib` for the crate's benchmark.
//!
//! ```text
//!  host thread ──rmqb_send / rmqb_send_async──> ffi (only unsafe: pointer checks, copies,
//!      catch_unwind) ──Event──> abi (validation) ──> EventSender::send / send_then ──> bridge
//!  bridge thread ──outcome of a send_then──> the host's rmqb_outcome_fn
//! ```
//!
//! - [`abi`]: the C structs and constants, and the safe conversions (an event's fields to an
//!   [`Event`](rocketmq_bridge::bridge::Event), counters, report, status codes).
//! - [`logger`]: the process-wide log callback.
//! - [`ffi`]: the `extern "C"` functions.
//!
//! The C ABI adds no thread of its own: sends run on the host's thread, outcomes and logs arrive
//! on the bridge's threads.
#![warn(missing_docs)]

pub mod abi;
pub mod ffi;
pub mod logger;
