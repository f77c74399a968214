//! The simulator's own work on the data: seeding, fingerprints, damage.

pub mod damage;
pub mod fingerprint;
mod generate;
mod pod_exec;
pub mod seed;
