//! One module per job.

pub mod housekeeping;
