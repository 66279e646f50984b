//! Interoperability with the reference Apache RocketMQ (Java) implementation.

mod java;
